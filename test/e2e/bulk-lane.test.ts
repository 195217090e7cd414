// A source transaction that dirties more instances than APPROVAL_CDC_BULK_THRESHOLD goes to the bulk
// lane, below live and above the backfill: a user's approval committed after a data fix reaches
// Feishu first. Within a lane, instances queue by the time they entered it; an instance waiting live
// stays live, and a small change to a bulk instance promotes it to live.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { InstanceTable } from '../../src/replica/instance-table.js';
import { LANE_BACKFILL, LANE_BULK, LANE_LIVE } from '../../src/replica/instance-vocabulary.js';
import { ReplicaWriter } from '../../src/replica/replica-writer.js';
import type { ChangeBatch, RowChange } from '../../src/replica/row-change.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { LEGACY_MAPPINGS, startConnectorFixture, waitFor } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { LEGACY_KEYS } from '../support/replica-check.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const KEYS = new Map(Object.entries(LEGACY_KEYS));
const THRESHOLD = 5;

const row = (id: number, title: string) => ({
  req_id: String(id),
  form_type: '1',
  title,
  applicant_no: '5',
  status_code: '1',
  submitted_at: '2026-11-01 00:00:00',
  updated_at: '2026-11-01 00:00:00',
});

describe('the bulk lane in the replica', () => {
  let db: TestDatabase;
  let state: StateConnection;
  const schema = 'approval_cdc';
  let lsn = 1000n;
  let writer: ReplicaWriter;
  let instances: InstanceTable;

  beforeAll(async () => {
    db = await createTestDatabase('bulk');
    state = openStateDb(db.url, schema);
    await migrateStateDb(state);
    await new CheckpointStore(state.db, schema).beginSnapshot('s', 50n);
    writer = new ReplicaWriter(state.db, schema, loadMappings(LEGACY_MAPPINGS), KEYS, 's', THRESHOLD);
    instances = new InstanceTable(state.db, schema);
  });
  afterAll(async () => {
    await state?.close();
    await db?.drop();
  });

  const changes = (ids: number[], title: string): RowChange[] =>
    ids.map((id) => ({ kind: 'upsert', table: 'oa.requests', lsn: lsn++, values: row(id, title) }));
  const apply = (batch: Omit<ChangeBatch, 'endLsn' | 'commitTime'>, committed = true) =>
    writer.applyBatch({ ...batch, endLsn: committed ? lsn++ : null, commitTime: new Date() });
  const lanes = async (from: number, to: number) => {
    const { rows } = await state.pool.query<{ id: string; lane: number }>(
      `select external_id as id, lane from ${schema}.instance
       where external_id = any($1::text[]) and version > synced_version order by external_id`,
      [Array.from({ length: to - from + 1 }, (_, i) => `oa-req-${from + i}`)],
    );
    return new Set(rows.map((r) => r.lane));
  };
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  const pause = () => new Promise((r) => setTimeout(r, 15));
  const syncAll = () =>
    state.pool.query(`update ${schema}.instance set synced_version = version, first_commit_at = null`);

  it('puts a transaction of more instances than the threshold in the bulk lane, and a later small one in the live lane before it', async () => {
    await syncAll();
    // Two transactions in one batch: a data fix of 8 requests, then a user's request 100.
    const fix = changes(range(1, 8), 'fixed');
    await apply({ changes: [...fix, ...changes([100], 'mine')], txStarts: [0, fix.length] });
    expect(await lanes(1, 8)).toEqual(new Set([LANE_BULK]));
    const due = await instances.dueInstances(20, []);
    expect(due[0]).toMatchObject({ externalId: 'oa-req-100', lane: LANE_LIVE });
    expect(due.slice(1).every((d) => d.lane === LANE_BULK)).toBe(true);
    // Exactly at the threshold: live.
    await syncAll();
    await apply({ changes: changes(range(11, THRESHOLD), 'small') });
    expect(await lanes(11, 10 + THRESHOLD)).toEqual(new Set([LANE_LIVE]));
  });

  it('moves the instances a bulk transaction put in the live lane in its first batch, but not those already waiting there', async () => {
    await syncAll();
    await apply({ changes: changes([21], 'waiting live') });
    await pause();
    // A data fix of 21..28 spread over three batches; its first batch alone is under the threshold.
    await apply({ changes: changes([21, 22, 23], 'fix'), txStarts: [0], txOpen: true }, false);
    expect(await lanes(21, 23)).toEqual(new Set([LANE_LIVE]));
    await apply({ changes: changes([24, 25], 'fix'), txStarts: [], txOpen: true }, false);
    // The third batch crosses the threshold, then holds a user's change of 22 (a new transaction).
    const tail = changes([26, 27, 28], 'fix');
    await apply({ changes: [...tail, ...changes([22], 'user edit')], txStarts: [tail.length] });
    const byId = new Map((await instances.dueInstances(20, [])).map((d) => [d.externalId, d.lane]));
    expect(byId.get('oa-req-21')).toBe(LANE_LIVE);
    expect(byId.get('oa-req-22')).toBe(LANE_LIVE);
    for (const id of [23, 24, 25, 26, 27, 28]) expect(byId.get(`oa-req-${id}`)).toBe(LANE_BULK);
  });

  it('promotes a bulk instance to live on a later small change, and queues a lane by the time of entry', async () => {
    await syncAll();
    await apply({ changes: changes(range(31, 8), 'fix 1') });
    await pause();
    await apply({ changes: changes([35], 'user edit') });
    await pause();
    await apply({ changes: changes(range(41, 8), 'fix 2') });
    await pause();
    // A request copied by the initial load (backfill) that a third data fix touches: it enters the
    // bulk lane now, behind both fixes.
    await writer.applySnapshotRows('oa.requests', [row(60, 'copied')], 900n);
    await pause();
    await apply({ changes: changes([...range(51, 6), 60], 'fix 3') });
    const due = await instances.dueInstances(40, []);
    expect(due[0]).toMatchObject({ externalId: 'oa-req-35', lane: LANE_LIVE });
    const order = due.slice(1).map((d) => Number(d.externalId.replace('oa-req-', '')));
    expect(due.slice(1).every((d) => d.lane === LANE_BULK)).toBe(true);
    const batchOf = (id: number) => (id < 41 ? 1 : id < 51 ? 2 : 3);
    expect(order.map(batchOf)).toEqual([...order.map(batchOf)].sort());
    expect(order).toContain(60);
    expect(LANE_BULK).toBeLessThan(LANE_BACKFILL);
  });
});

describe('a data fix and a user change, through the connector', () => {
  it("pushes a user's new approval committed after a bulk transaction before the bulk instances", async () => {
    const fx = await startConnectorFixture({
      settings: { bulkThreshold: 10, ratePerSecond: 20, ratePerMinute: 600, syncConcurrency: 4 },
      fake: { perSecond: 20, perMinute: 600 },
    });
    try {
      await seedUsers(fx.sql);
      const n = 60;
      // One transaction dirtying 60 instances (a data import), then a user's request.
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        select g, 1, 'imported ' || g, 1 + g % 20, 2, '2026-11-01', '2026-11-01' from generate_series(1, ${n}) g`);
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        values (9001, 1, 'mine', 1, 1, '2026-11-25 10:00:00', '2026-11-25 10:00:00')`);
      const accepted = () => fx.fake.pushes().filter((p) => p.accepted);
      await waitFor(
        () => accepted().some((p) => p.instance_id === 'oa-req-9001'),
        30_000,
        'the user request',
      );
      const before = accepted().findIndex((p) => p.instance_id === 'oa-req-9001');
      // First in, first out would put it behind all 60; pushes already under way when its commit
      // arrived may precede it.
      expect(before).toBeLessThan(10);
      await waitFor(() => fx.fake.instances().length >= n + 1, 30_000, 'the bulk lane to drain');
      expect(fx.fake.counters.tooManyRequests).toBe(0);
    } finally {
      await fx.close();
    }
  }, 90_000);
});
