import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { CopyRowStream } from '../../src/replica/copy-row-stream.js';
import { jsonKey } from '../../src/replica/json-key.js';

/** Runs COPY text through the stream; returns the staging lines. */
async function stage(text: string, keyColumns: string[]): Promise<string> {
  const columns = ['step_id', 'req_id', 'node_name'];
  const rows = new CopyRowStream(
    columns,
    keyColumns,
    (row) => jsonKey(keyColumns.map((k) => row[k] ?? null)),
    () => undefined,
    'oa.steps',
  );
  let out = '';
  await pipeline(Readable.from([Buffer.from(text)]), rows, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out += chunk.toString('utf8');
  });
  return out;
}

describe('the copy of a table under its declared key', () => {
  it('puts each row key in front of its line', async () => {
    expect(await stage('1\t10\tManager\n2\t10\tFinance\n', ['step_id'])).toBe(
      '["1"]\t1\t10\tManager\n["2"]\t2\t10\tFinance\n',
    );
  });

  it('refuses a declared key two rows share, naming the table, the columns and the value', async () => {
    // Keyset chunks would skip the second row at a chunk boundary, and the replica holds one image per key.
    await expect(stage('1\t10\tManager\n2\t10\tFinance\n', ['req_id'])).rejects.toThrow(
      /oa\.steps.*\(req_id\).*not unique.*\["10"\]/,
    );
  });
});
