import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CdcError } from '../../src/errors.js';
import { createLogger } from '../../src/core/logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('info', stream), text: () => lines.join('') };
}

describe('logs', () => {
  it('never contain app secrets, tokens, authorization headers or database passwords', async () => {
    const { logger, text } = capture();
    logger.info(
      {
        settings: { feishuAppSecret: 's3cr3t-app' },
        appSecret: 's3cr3t-2',
        token: 't-abc123',
        headers: { authorization: 'Bearer t-xyz' },
      },
      'starting',
    );
    logger.warn('cannot connect to postgres://cdc:hunter2@db:5432/oa');
    logger.error(
      {
        err: new CdcError('SOURCE_STREAM', 'failed on postgresql://cdc:hunter3@db/oa', {
          cause: new Error('postgres://a:hunter4@x/y'),
        }),
      },
      'boom',
    );
    logger.flush();
    await new Promise((r) => setTimeout(r, 20));
    const out = text();
    for (const secret of ['s3cr3t-app', 's3cr3t-2', 't-abc123', 't-xyz', 'hunter2', 'hunter3', 'hunter4'])
      expect(out).not.toContain(secret);
    expect(out).toContain('SOURCE_STREAM');
    expect(out).toContain('"level":"error"');
  });
});
