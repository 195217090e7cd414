// The batches of a bulk transaction are spooled, not applied at once: the transactions committed
// after it reach the replica first (a user's change waits for the stream to read the data fix, not
// for the replica to write 20,000 images), and the spool follows in the bulk lane. A change that
// keeps an unchanged TOAST value of a spooled row waits for the spool, or its image would be stale.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { BulkSpool } from '../../src/replica/bulk-spool.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { InstanceTable } from '../../src/replica/instance-table.js';
import { LANE_BULK, LANE_LIVE } from '../../src/replica/instance-vocabulary.js';
import { ReplicaWriter } from '../../src/replica/replica-writer.js';
import type { ChangeBatch, RowChange } from '../../src/replica/row-change.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { LEGACY_MAPPINGS } from '../support/connector-fixture.js';
import { LEGACY_KEYS } from '../support/replica-check.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const KEYS = new Map(Object.entries(LEGACY_KEYS));
const THRESHOLD = 5;
const schema = 'approval_cdc';

const row = (id: number, title: string | undefined, status = '1') => ({
  req_id: String(id),
  form_type: '1',
  title,
  applicant_no: '5',
  status_code: status,
  submitted_at: '2026-11-01 00:00:00',
  updated_at: '2026-11-01 00:00:00',
});

describe('the bulk spool', () => {
  let db: TestDatabase;
  let state: StateConnection;
  let lsn = 1000n;
  let writer: ReplicaWriter;

  beforeAll(async () => {
    db = await createTestDatabase('spool');
    state = openStateDb(db.url, schema);
    await migrateStateDb(state);
    await new CheckpointStore(state.db, schema).beginSnapshot('s', 50n);
    // The spool is applied only when the test says so (drainSpool), not between batches by itself.
    writer = new ReplicaWriter(state.db, schema, loadMappings(LEGACY_MAPPINGS), KEYS, 's', THRESHOLD, false);
  });
  afterAll(async () => {
    await state?.close();
    await db?.drop();
  });

  const changes = (ids: number[], title: string | undefined, status?: string): RowChange[] =>
    ids.map((id) => ({ kind: 'upsert', table: 'oa.requests', lsn: lsn++, values: row(id, title, status) }));
  const apply = (batch: Omit<ChangeBatch, 'endLsn' | 'commitTime'>, committed = true) =>
    writer.applyBatch({ ...batch, endLsn: committed ? lsn++ : null, commitTime: new Date() });
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  const titles = async (ids: number[]) => {
    const { rows } = await state.pool.query<{ id: string; title: string; status: string }>(
      `select data ->> 'req_id' as id, data ->> 'title' as title, data ->> 'status_code' as status
       from ${schema}.row_image where tbl = 'oa.requests' and data ->> 'req_id' = any($1::text[])`,
      [ids.map(String)],
    );
    return new Map(rows.map((r) => [Number(r.id), r]));
  };
  const dirtyLanes = async (ids: number[]) => {
    const { rows } = await state.pool.query<{ id: string; lane: number }>(
      `select external_id as id, lane from ${schema}.instance
       where external_id = any($1::text[]) and version > synced_version`,
      [ids.map((i) => `oa-req-${i}`)],
    );
    return new Map(rows.map((r) => [Number(r.id.replace('oa-req-', '')), r.lane]));
  };
  const step = (stepId: number, reqId: number, state: number): RowChange => ({
    kind: 'upsert',
    table: 'oa.steps',
    lsn: lsn++,
    values: {
      step_id: String(stepId),
      req_id: String(reqId),
      seq: '1',
      node_name: 'Manager',
      approver_no: '5',
      state_code: String(state),
      created_at: '2026-11-01 00:00:00',
      updated_at: `2026-11-0${state + 1} 00:00:00`,
    },
  });
  const spooled = async () =>
    Number((await state.pool.query(`select count(*) from ${schema}.bulk_spool`)).rows[0].count);
  const syncAll = () =>
    state.pool.query(`update ${schema}.instance set synced_version = version, first_commit_at = null`);

  it("applies a user's change committed after a data fix first, and the data fix's spooled batches after it in the bulk lane", async () => {
    await apply({ changes: changes([...range(1, 18), 100], 'orig') });
    await syncAll();
    // A data fix of requests 1..18 over three batches, then (in the third) a user's edit of 100.
    await apply({ changes: changes(range(1, 8), 'fixed'), txStarts: [0], txOpen: true }, false);
    await apply({ changes: changes(range(9, 8), 'fixed'), txStarts: [], txOpen: true }, false);
    const tail = changes([17, 18], 'fixed');
    const endLsn = lsn + 2n;
    await apply({ changes: [...tail, ...changes([100], 'mine')], txStarts: [tail.length] });

    const before = await titles(range(1, 18).concat(100));
    expect(before.get(100)?.title).toBe('mine');
    expect(range(1, 16).map((id) => before.get(id)?.title)).toEqual(range(1, 16).map(() => 'orig'));
    expect([before.get(17)?.title, before.get(18)?.title]).toEqual(['fixed', 'fixed']);
    const lanesBefore = await dirtyLanes(range(1, 18).concat(100));
    expect(lanesBefore.get(100)).toBe(LANE_LIVE);
    expect([lanesBefore.get(17), lanesBefore.get(18)]).toEqual([LANE_BULK, LANE_BULK]);
    expect(range(1, 16).some((id) => lanesBefore.has(id))).toBe(false);
    // The checkpoint is past the data fix's commit: its first two batches are durable in the spool.
    const { rows } = await state.pool.query(`select lsn::text from ${schema}.checkpoint where slot = 's'`);
    expect(BigInt(rows[0].lsn)).toBeGreaterThanOrEqual(endLsn - 1n);
    expect(await spooled()).toBe(2);
    // What status and the metrics show while the fix waits.
    expect(await new BulkSpool(schema, 's').backlog(state.db)).toMatchObject({ batches: 2 });

    expect(await writer.drainSpool()).toBe(2);
    expect(await new BulkSpool(schema, 's').backlog(state.db)).toEqual({ batches: 0, oldest: null });
    const after = await titles(range(1, 18).concat(100));
    expect(range(1, 18).map((id) => after.get(id)?.title)).toEqual(range(1, 18).map(() => 'fixed'));
    expect(after.get(100)?.title).toBe('mine');
    const lanesAfter = await dirtyLanes(range(1, 18).concat(100));
    expect(range(1, 18).map((id) => lanesAfter.get(id))).toEqual(range(1, 18).map(() => LANE_BULK));
    expect(lanesAfter.get(100)).toBe(LANE_LIVE);
    expect(await spooled()).toBe(0);
  });

  it('applies the spool before a change whose row is spooled and which keeps an unchanged TOAST value', async () => {
    await apply({ changes: changes(range(21, 8), 'orig') });
    await syncAll();
    await apply({ changes: changes(range(21, 8), 'fixed'), txStarts: [0], txOpen: true }, false);
    expect(await spooled()).toBe(1);
    // The data fix ends; then request 23 changes status, its title not sent (unchanged TOAST value).
    const tail = changes([29], 'fixed');
    await apply({ changes: [...tail, ...changes([23], undefined, '2')], txStarts: [tail.length] });
    expect(await spooled()).toBe(0);
    const images = await titles([23, 24]);
    expect(images.get(23)).toMatchObject({ title: 'fixed', status: '2' });
    expect(images.get(24)?.title).toBe('fixed');
  });

  it('lets a change to an instance the spooled data fix left alone go first, and for an instance it changed applies the spooled changes of that instance before a change to it', async () => {
    await apply({ changes: changes([...range(61, 8), 110], 'orig') });
    await syncAll();
    await apply({ changes: changes(range(61, 8), 'fixed'), txStarts: [0], txOpen: true }, false);
    expect(await spooled()).toBe(1);
    const tail = changes([69], 'fixed');
    // Request 110 is not in the data fix: its step goes before the spool.
    await apply({ changes: [...tail, step(9110, 110, 1)], txStarts: [tail.length] });
    expect(await spooled()).toBe(1);
    // Request 63 is: pushed now with its step and without the fix, Feishu would show a state the
    // source never had (the fix committed before the step).
    await apply({ changes: [step(9063, 63, 1)] });
    const images = await titles([63, 64]);
    expect(images.get(63)?.title).toBe('fixed');
    // Only request 63's spooled changes went first: the rest of the fix still waits in the spool.
    expect(images.get(64)?.title).toBe('orig');
    expect(await spooled()).toBe(1);
    expect(await writer.drainSpool()).toBe(1);
    expect((await titles([63, 64])).get(64)?.title).toBe('fixed');
  });

  it("takes an instance's spooled changes from whichever spooled batch holds them before a change to it", async () => {
    await apply({ changes: changes([...range(121, 8), ...range(131, 8), 150], 'orig') });
    await syncAll();
    // One data fix, spooled in two batches (read back one at a time).
    await apply({ changes: changes(range(121, 8), 'fixed'), txStarts: [0], txOpen: true }, false);
    await apply({ changes: changes(range(131, 8), 'fixed'), txStarts: [], txOpen: true }, false);
    expect(await spooled()).toBe(2);
    const tail = changes([139], 'fixed');
    await apply({ changes: [...tail, step(9150, 150, 1)], txStarts: [tail.length] });
    await apply({ changes: [step(9122, 122, 1), step(9133, 133, 1)] });
    const images = await titles([122, 123, 133, 134]);
    expect(images.get(122)?.title).toBe('fixed');
    expect(images.get(133)?.title).toBe('fixed');
    expect(images.get(123)?.title).toBe('orig');
    expect(images.get(134)?.title).toBe('orig');
    expect(await writer.drainSpool()).toBe(2);
    expect((await titles([123, 134])).get(134)?.title).toBe('fixed');
  });

  it('reads only the spooled batch that holds an instance before a change to it, not the whole spool', async () => {
    await apply({ changes: changes([...range(161, 8), ...range(171, 8)], 'orig') });
    await syncAll();
    await apply({ changes: changes(range(161, 8), 'fixed'), txStarts: [0], txOpen: true }, false);
    await apply({ changes: changes(range(171, 8), 'fixed'), txStarts: [], txOpen: true }, false);
    const tail = changes([179], 'fixed');
    await apply({ changes: tail, txStarts: [] });
    expect(await spooled()).toBe(2);
    // Every spooled batch the writer reads and decodes for the change to request 175.
    const read: string[] = [];
    const batches = BulkSpool.prototype.batches;
    vi.spyOn(BulkSpool.prototype, 'batches').mockImplementation(async function* (
      this: BulkSpool,
      ...args: Parameters<typeof batches>
    ) {
      for await (const batch of batches.apply(this, args)) {
        read.push(batch.id);
        yield batch;
      }
    });
    try {
      await apply({ changes: [step(9175, 175, 1)] });
    } finally {
      vi.restoreAllMocks();
    }
    expect(read).toHaveLength(1);
    const images = await titles([165, 175, 176]);
    expect(images.get(175)?.title).toBe('fixed');
    expect([images.get(165)?.title, images.get(176)?.title]).toEqual(['orig', 'orig']);
    expect(await writer.drainSpool()).toBe(2);
  });

  it('pushes no instance a spooled data fix changed until the whole spool is applied, though its rows span two spooled batches', async () => {
    await apply({ changes: changes(range(71, 8), 'orig') });
    await syncAll();
    // What a sync stage could claim the moment each spooled batch commits, recorded in its transaction.
    await state.pool.query(`
      create table ${schema}.due_seen (ids text[]);
      create function ${schema}.record_due() returns trigger language plpgsql as $$ begin
        insert into ${schema}.due_seen select coalesce(array_agg(external_id), '{}') from ${schema}.instance
          where version > synced_version and parked_at is null
            and not exists (select 1 from ${schema}.spool_hold h where h.id = instance.id);
        return null; end $$;
      create trigger record_due after delete on ${schema}.bulk_spool
        for each statement execute function ${schema}.record_due();`);
    try {
      // Request 71's title is in the first spooled batch, its step in the second.
      await apply({ changes: changes(range(71, 8), 'fixed'), txStarts: [0], txOpen: true }, false);
      await apply({ changes: [step(9171, 71, 2)], txStarts: [], txOpen: true }, false);
      await apply({ changes: changes([79], 'fixed'), txStarts: [] });
      expect(await spooled()).toBe(2);
      expect(await writer.drainSpool()).toBe(2);
      const { rows } = await state.pool.query<{ ids: string[] }>(`select ids from ${schema}.due_seen`);
      expect(rows.length).toBeGreaterThanOrEqual(2);
      expect(rows.flatMap((r) => r.ids).filter((id) => id !== 'oa-req-79')).toEqual([]);
    } finally {
      await state.pool.query(`drop table ${schema}.due_seen; drop function ${schema}.record_due() cascade`);
    }
    // The spool found empty: the whole fix may go to Feishu.
    const due = await new InstanceTable(state.db, schema).dueInstances(100, []);
    const ids = new Set(due.map((d) => d.externalId));
    expect(range(71, 9).filter((id) => !ids.has(`oa-req-${id}`))).toEqual([]);
  });

  it('applies the spool before a truncate of its table, so no spooled row outlives the truncate', async () => {
    await apply({ changes: changes(range(41, 8), 'imported'), txStarts: [0], txOpen: true }, false);
    expect(await spooled()).toBe(1);
    await apply({ changes: changes([49], 'imported'), txStarts: [] });
    await apply({ changes: [{ kind: 'truncate', table: 'oa.requests', lsn: lsn++ }] });
    expect(await writer.drainSpool()).toBe(0);
    const { rows } = await state.pool.query(
      `select count(*)::int as n from ${schema}.row_image where tbl = 'oa.requests' and not deleted`,
    );
    expect(rows[0].n).toBe(0);
  });
});
