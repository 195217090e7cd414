// What a batch's source transactions dirty, found in one pass: the whole is the union of the parts,
// and each part is what that transaction alone dirties.
import { describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { DirtySetFinder } from '../../src/replica/dirty-set.js';

const mappings = loadMappings(new URL('../../mappings/legacy-approval.yaml', import.meta.url).pathname);
const finder = new DirtySetFinder(mappings, 'approval_cdc');

const request = (id: number) => ({
  table: 'oa.requests',
  row: { req_id: String(id), form_type: '1', applicant_no: '3', status_code: '1' },
});
const step = (id: number, req: number) => ({
  table: 'oa.steps',
  row: { step_id: String(id), req_id: String(req), approver_no: '4', state_code: '0' },
});
const user = (no: number) => ({ table: 'oa.users', row: { user_no: String(no), name: 'U' } });

describe('the instances of a batch by transaction', () => {
  const touched = [request(1), step(11, 1), request(2), user(3), step(21, 2), request(1), user(3), user(5)];
  const starts = [0, 2, 5];

  it('finds for the whole batch what a pass over all its rows finds, queries asked once', () => {
    const { whole, parts } = finder.directParts(touched, starts);
    const once = finder.direct(touched);
    expect(new Set(whole.refs.keys())).toEqual(new Set(once.refs.keys()));
    expect(whole.seenQueries).toEqual(once.seenQueries);
    expect(whole.queries).toHaveLength(once.queries.length);
    expect(parts).toHaveLength(3);
  });

  it('finds for each transaction what its own rows dirty, and nothing of the others', () => {
    const { parts } = finder.directParts(touched, starts);
    parts.forEach((part, k) => {
      const alone = finder.direct(touched.slice(starts[k], starts[k + 1]));
      expect([...part.refs.keys()].sort()).toEqual([...alone.refs.keys()].sort());
      expect(part.queries).toEqual(alone.queries);
    });
    expect(parts.map((p) => [...p.refs.keys()])).toEqual([
      ['["oa-request","1"]'],
      ['["oa-request","2"]'],
      ['["oa-request","1"]'],
    ]);
    // User 3 is in the second and third transactions: each asks its queries, the whole once.
    expect(parts.map((p) => p.queries.length)).toEqual([0, 3, 6]);
    expect(finder.directParts(touched, starts).whole.queries).toHaveLength(6);
  });

  it('makes no parts of a batch of one transaction', () => {
    expect(finder.directParts(touched, [0]).parts).toEqual([]);
  });
});
