// A flood of refused callbacks (a scanner, a misconfigured token) reaches the log once a minute per
// kind with a count, not one line per request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCallbackServer, type CallbackServer } from '../../src/decisions/callback-server.js';
import type { DecisionIntake } from '../../src/decisions/decision-intake.js';
import { recordingLogger } from '../support/recording-logger.js';

describe('refused callbacks in the log', () => {
  const { logger, lines } = recordingLogger();
  let server: CallbackServer;
  beforeAll(async () => {
    server = await startCallbackServer({
      address: '127.0.0.1:0',
      path: '/feishu/callback',
      token: 'the-right-token',
      maxBytes: 10_000,
      intake: {} as DecisionIntake,
      logger,
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('logs the first of 30 callbacks with a wrong token and counts the other 29, answering each 401', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: `wrong-${i}`, action: { value: {} } }),
      });
      statuses.push(res.status);
      await res.body?.cancel();
    }
    expect(new Set(statuses)).toEqual(new Set([401]));
    const refused = () => lines.filter((l) => l.message.includes('callback refused'));
    expect(refused()).toHaveLength(1);
    await server.close();
    const summary = lines.find((l) => l.message.includes('29 more'));
    expect(summary?.fields).toMatchObject({ suppressed: 29 });
  });
});
