import { describe, expect, it } from 'vitest';
import { copyOrder } from '../../src/source/snapshot-copy.js';
import type { CopyProgress } from '../../src/core/copy-progress.js';

const range = (upper: string | null, done: boolean, rows = 0) => ({ upper, lastKey: null, rows, done });

describe('copy order', () => {
  it('copies lookup tables first, then interleaves the ranges of the large tables by key position', () => {
    const progress: CopyProgress = {
      'oa.users': { done: false, lastKey: null, rows: 0, total: 20 },
      'oa.steps': {
        done: false,
        lastKey: null,
        rows: 0,
        total: 400,
        ranges: [range('100', false), range('200', false), range('300', false), range(null, false)],
      },
      'oa.requests': {
        done: false,
        lastKey: null,
        rows: 0,
        total: 200,
        ranges: [range('100', false), range(null, false)],
      },
      'oa.cc': { done: false, lastKey: null, rows: 0, total: 150 },
    };
    expect(copyOrder(Object.keys(progress), progress, 50)).toEqual([
      { table: 'oa.users' },
      { table: 'oa.steps', range: 0 },
      { table: 'oa.requests', range: 0 },
      { table: 'oa.cc' },
      { table: 'oa.steps', range: 1 },
      { table: 'oa.steps', range: 2 },
      { table: 'oa.requests', range: 1 },
      { table: 'oa.steps', range: 3 },
    ]);
  });

  it('copies the instance table ahead of the rows that belong to it, by as many ranges as there are workers', () => {
    // Steps copied before their request would create its instance without a priority, and the
    // request would then write it again.
    const four = [range('100', false), range('200', false), range('300', false), range(null, false)];
    const progress: CopyProgress = {
      'oa.users': { done: false, lastKey: null, rows: 0, total: 20 },
      'oa.steps': { done: false, lastKey: null, rows: 0, total: 400, ranges: structuredClone(four) },
      'oa.requests': { done: false, lastKey: null, rows: 0, total: 200, ranges: structuredClone(four) },
      'oa.cc': { done: false, lastKey: null, rows: 0, total: 150 },
    };
    const hints = { instanceTables: new Set(['oa.requests']), workers: 2 };
    expect(copyOrder(Object.keys(progress), progress, 50, hints)).toEqual([
      { table: 'oa.users' },
      { table: 'oa.requests', range: 0 },
      // A table in one piece starts at once: no other worker could share its tail.
      { table: 'oa.cc' },
      { table: 'oa.requests', range: 1 },
      { table: 'oa.requests', range: 2 },
      { table: 'oa.steps', range: 0 },
      { table: 'oa.requests', range: 3 },
      { table: 'oa.steps', range: 1 },
      { table: 'oa.steps', range: 2 },
      { table: 'oa.steps', range: 3 },
    ]);
  });

  it('resumes a table in ranges range by range though its estimate says less than a chunk is left', () => {
    // The estimate (reltuples) was low: 95 of "100" rows copied, but the last range is not done. As
    // one piece the table would be copied again from its first key.
    const progress: CopyProgress = {
      'oa.requests': {
        done: false,
        lastKey: null,
        rows: 95,
        total: 100,
        ranges: [range('60', true, 60), range(null, false, 35)],
      },
    };
    expect(copyOrder(['oa.requests'], progress, 50)).toEqual([{ table: 'oa.requests', range: 1 }]);
  });
});
