// What the spool policy remembers of spooled changes is bounded: past 50,000 keys or
// instances it forgets them and treats the spool as unknown (every later change that could meet a
// spooled one waits for the whole spool), which is slower but never out of order.
import { describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { jsonKey } from '../../src/replica/json-key.js';
import type { ChangeBatch, RowChange } from '../../src/replica/row-change.js';
import { SpoolPolicy } from '../../src/replica/spool-policy.js';

/** The documented bound (src/replica/spool-policy.ts): about 10 MB per set. */
const SPOOL_MEMORY_MAX = 50_000;

const mappings = loadMappings(new URL('../../mappings/legacy-approval.yaml', import.meta.url).pathname);
const KEYS: Record<string, string> = { 'oa.requests': 'req_id', 'oa.steps': 'step_id', 'oa.cc': 'cc_no' };
const shape = {
  pkOf: (table: string, values: Record<string, string | null | undefined>) => {
    const v = values[KEYS[table] ?? ''];
    return typeof v === 'string' ? jsonKey([v]) : null;
  },
  keep: () => undefined,
};
const request = (id: number): RowChange => ({
  kind: 'upsert',
  table: 'oa.requests',
  lsn: BigInt(id),
  values: { req_id: String(id), title: `R${id}`, status_code: '1' },
});
const batchOf = (changes: RowChange[]): ChangeBatch => ({ endLsn: 1n, commitTime: null, changes });

describe('spool policy memory', () => {
  it('names the spooled instances of a later change while the spool is small', () => {
    const policy = new SpoolPolicy(100, mappings, shape);
    policy.noteEmpty();
    policy.noteSpooled([request(1), request(2)]);
    const later = batchOf([request(2), request(3)]);
    expect(policy.needsSpoolFirst(later)).toBe(false);
    expect([...policy.spooledInstancesOf(later)]).toEqual([jsonKey(['oa-request', '2'])]);
  });

  it('forgets the instances of a spool larger than it may remember and waits for the whole spool', () => {
    const policy = new SpoolPolicy(100, mappings, shape);
    policy.noteEmpty();
    for (let from = 0; from <= SPOOL_MEMORY_MAX; from += 2000)
      policy.noteSpooled(Array.from({ length: 2000 }, (_, i) => request(from + i)));
    // Request 5 is in the spool, but no set of that size is kept: every later change waits.
    expect(policy.needsSpoolFirst(batchOf([request(SPOOL_MEMORY_MAX + 10_000)]))).toBe(true);
    expect(policy.spooledInstancesOf(batchOf([request(5)])).size).toBe(0);
  });
});
