import { describe, expect, it } from 'vitest';
import {
  imageKey,
  newStaging,
  stageChange,
  type Image,
  type TableShape,
} from '../../src/replica/image-staging.js';

const shape: TableShape = {
  pkOf: (_table, values) => (values.id === undefined ? null : JSON.stringify([values.id])),
  keep: (table) => (table === 't' ? new Set(['id', 'a', 'doc']) : undefined),
};
const upsert = (
  lsn: bigint,
  values: Record<string, string | null | undefined>,
  oldKey?: Record<string, string>,
) => ({ kind: 'upsert', table: 't', lsn, values, ...(oldKey ? { oldKey } : {}) }) as const;

describe('image staging', () => {
  it('stores only the columns a mapping reads and keeps an unchanged TOAST value from the image before', () => {
    const before: Image = { lsn: 10n, deleted: false, data: { id: '1', a: 'x', doc: 'long' } };
    const s = newStaging(new Map([[imageKey('t', '["1"]'), before]]));
    stageChange(s, shape, upsert(20n, { id: '1', a: 'y', doc: undefined, secret: 's' }), '["1"]');
    expect(s.written.get(imageKey('t', '["1"]'))?.image).toEqual({
      lsn: 20n,
      deleted: false,
      data: { id: '1', a: 'y', doc: 'long' },
    });
    expect(s.touched.map((t) => t.row)).toEqual([before.data, { id: '1', a: 'y', doc: 'long' }]);
  });

  it('skips a change no newer than the image it would replace', () => {
    const s = newStaging(
      new Map([[imageKey('t', '["1"]'), { lsn: 20n, deleted: false, data: { id: '1' } }]]),
    );
    stageChange(s, shape, upsert(20n, { id: '1', a: 'old' }), '["1"]');
    expect(s.written.size).toBe(0);
    expect(s.skipped).toBe(1);
  });

  it('leaves a tombstone under the old key when an update changes the key, and touches each image once', () => {
    const s = newStaging(new Map());
    stageChange(s, shape, upsert(10n, { id: '1', a: 'x', doc: 'd' }), '["1"]');
    stageChange(s, shape, upsert(20n, { id: '2', a: 'x', doc: 'd' }, { id: '1' }), '["2"]');
    expect(s.written.get(imageKey('t', '["1"]'))?.image).toMatchObject({
      lsn: 20n,
      deleted: true,
      data: { id: '1' },
    });
    expect(s.written.get(imageKey('t', '["2"]'))?.image).toMatchObject({ lsn: 20n, deleted: false });
    // The first image is both "after" of the insert and "before" of the key change: reported once.
    expect(s.touched.map((t) => t.row.id)).toEqual(['1', '2']);
  });

  it('ignores changes of tables no mapping reads', () => {
    const s = newStaging(new Map());
    stageChange(s, shape, { kind: 'upsert', table: 'other', lsn: 5n, values: { id: '1' } }, '["1"]');
    expect(s.written.size + s.applied + s.skipped).toBe(0);
  });
});
