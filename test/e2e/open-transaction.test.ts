// A source transaction larger than a batch (or cut by the batch timer) reaches the replica in
// several batches. Until its commit is applied, the instances it touched hold part of it: the sync
// stage must not push them, or Feishu would show a transaction half applied (a request with some of
// its steps). They are bumped at once and held until the checkpoint passes the transaction's commit
// (the batch that applies it), also after a restart that replays the transaction from the checkpoint.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import type { ExternalInstance } from '../../src/feishu/external-instance.js';
import { RateBudget } from '../../src/sync/rate-budget.js';
import { DEFAULT_RETRY_POLICY } from '../../src/sync/retry-policy.js';
import { SyncScheduler } from '../../src/sync/sync-scheduler.js';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { InstanceTable } from '../../src/replica/instance-table.js';
import { InstanceViews } from '../../src/replica/instance-views.js';
import { ReplicaWriter } from '../../src/replica/replica-writer.js';
import type { RowChange } from '../../src/replica/row-change.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { LEGACY_MAPPINGS } from '../support/connector-fixture.js';
import { LEGACY_KEYS } from '../support/replica-check.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/connector-fixture.js';

const KEYS = new Map(Object.entries(LEGACY_KEYS));
const MAPPINGS = loadMappings(LEGACY_MAPPINGS);
const AT = '2026-11-01 00:00:00';

const request = (id: number, title = 'R') => ({
  req_id: String(id),
  form_type: '1',
  title,
  applicant_no: '5',
  status_code: '1',
  submitted_at: AT,
  updated_at: AT,
});
const step = (id: number, req: number) => ({
  step_id: String(id),
  req_id: String(req),
  seq: '1',
  node_name: 'N',
  approver_no: '2',
  state_code: '0',
  created_at: AT,
  updated_at: AT,
});

// Both ways a batch is written: the one-statement path (no bulk lane) and the transaction path.
describe.each([
  { name: 'without a bulk lane', threshold: 0 },
  { name: 'with a bulk lane', threshold: 1000 },
])('an open source transaction ($name)', ({ threshold }) => {
  let db: TestDatabase;
  let state: StateConnection;
  const schema = 'approval_cdc';
  let lsn = 1000n;
  let instances: InstanceTable;
  const writerOf = () => new ReplicaWriter(state.db, schema, MAPPINGS, KEYS, 's', threshold);
  let writer: ReplicaWriter;

  beforeAll(async () => {
    db = await createTestDatabase('opentx');
    state = openStateDb(db.url, schema);
    await migrateStateDb(state);
    await new CheckpointStore(state.db, schema).beginSnapshot('s', 50n);
    writer = writerOf();
    instances = new InstanceTable(state.db, schema);
  });
  afterAll(async () => {
    await state?.close();
    await db?.drop();
  });

  const upserts = (rows: { table: string; values: Record<string, string> }[]): RowChange[] =>
    rows.map(({ table, values }) => ({ kind: 'upsert', table, lsn: lsn++, values, fresh: true }));
  const requestWithSteps = (req: number, from: number, n: number) =>
    upserts([
      { table: 'oa.requests', values: request(req) },
      ...Array.from({ length: n }, (_, i) => ({ table: 'oa.steps', values: step(from + i, req) })),
    ]);
  const stepsOf = (req: number, from: number, n: number) =>
    upserts(Array.from({ length: n }, (_, i) => ({ table: 'oa.steps', values: step(from + i, req) })));
  /** The first batch of a transaction that goes on in the next batch. */
  const beginOpen = (changes: RowChange[]) =>
    writer.applyBatch({
      changes,
      endLsn: null,
      commitTime: null,
      txStarts: [0],
      txOpen: true,
      openCommitLsn: openTx(),
    });
  /** A batch with a complete transaction (`done`) and the first part of the next one (`open`). */
  const commitThenOpen = (done: RowChange[], open: RowChange[]) =>
    writer.applyBatch({
      changes: [...done, ...open],
      endLsn: lsn++,
      commitTime: new Date(),
      txStarts: [0, done.length],
      txOpen: true,
      openCommitLsn: openTx(),
    });
  /** The last batch of the open transaction, with its commit. */
  const commitOpen = (changes: RowChange[]) =>
    writer.applyBatch({ changes, endLsn: commitEnd(), commitTime: new Date(), txStarts: [], txOpen: false });
  const due = async () => (await instances.dueInstances(100, [])).map((d) => d.externalId).sort();
  // The LSN of an open transaction's commit record, ahead of every change until it commits.
  let commitLsn = 0n;
  const openTx = () => (commitLsn = lsn + 1000n);
  const commitEnd = () => {
    lsn = commitLsn + 2n;
    return commitLsn + 1n;
  };

  it('keeps an instance out of the sync queue until the batch with its commit is applied', async () => {
    await writer.applyBatch({ changes: requestWithSteps(1, 100, 1), endLsn: lsn++, commitTime: new Date() });
    const [claimed] = await instances.dueInstances(100, []);
    expect(claimed?.externalId).toBe('oa-req-1');
    if (!claimed) return;
    expect(await instances.isPushable(claimed.id, claimed.version)).toBe(true);

    const first = stepsOf(1, 110, 3);
    await beginOpen(first);
    expect(await due()).toEqual([]);
    // Rows read for a push claimed before the hold may hold half of the transaction: not pushed.
    expect(await instances.isPushable(claimed.id, claimed.version)).toBe(false);

    const rest = stepsOf(1, 200, 2);
    await commitOpen(rest);
    const [again] = await instances.dueInstances(100, []);
    expect(again?.externalId).toBe('oa-req-1');
    expect(await instances.isPushable(claimed.id, claimed.version)).toBe(false);
    expect(await instances.isPushable(claimed.id, again?.version ?? 0n)).toBe(true);
  });

  it('keeps flowing the instances of the transactions a batch completes, holding only the open one', async () => {
    // The open transaction began first: its changes come before the other's commit in the WAL.
    const open = requestWithSteps(3, 400, 1);
    const done = requestWithSteps(2, 300, 1);
    await commitThenOpen(done, open);
    expect(await due()).toEqual(['oa-req-1', 'oa-req-2']);
    await commitOpen(stepsOf(3, 500, 1));
    expect(await due()).toEqual(['oa-req-1', 'oa-req-2', 'oa-req-3']);
  });

  it('holds an instance an earlier transaction left due when the open one touches it too', async () => {
    await state.pool.query(`update ${schema}.instance set synced_version = version, first_commit_at = null`);
    await writer.applyBatch({
      changes: upserts([{ table: 'oa.requests', values: request(2, 'changed') }]),
      endLsn: lsn++,
      commitTime: new Date(),
    });
    expect(await due()).toEqual(['oa-req-2']);
    await beginOpen(stepsOf(2, 600, 1));
    expect(await due()).toEqual([]);
    await commitOpen([]);
    expect(await due()).toEqual(['oa-req-2']);
  });

  it('holds the open transaction also when a refused change makes the batch apply change by change', async () => {
    await state.pool.query(`update ${schema}.instance set synced_version = version, first_commit_at = null`);
    await state.pool.query(
      `alter table ${schema}.row_image add constraint refuses_poison check (data ->> 'title' is distinct from 'poison')`,
    );
    try {
      const done = upserts([{ table: 'oa.requests', values: request(5, 'poison') }]);
      const open = requestWithSteps(6, 900, 1);
      const summary = await commitThenOpen(done, open);
      expect(summary.parked).toHaveLength(1);
      expect(await due()).toEqual([]);
      expect((await new InstanceViews(state.db, schema).listParked()).map((p) => p.externalId)).toEqual([
        'oa-req-5',
      ]);
    } finally {
      await state.pool.query(`alter table ${schema}.row_image drop constraint refuses_poison`);
    }
    await commitOpen([]);
    expect(await due()).toEqual(['oa-req-6']);
  });

  it('releases what a stopped process held once the replayed transaction commits', async () => {
    await state.pool.query(`update ${schema}.instance set synced_version = version, first_commit_at = null`);
    const first = requestWithSteps(4, 700, 2);
    const openBatch = {
      changes: first,
      endLsn: null,
      commitTime: null,
      txStarts: [0],
      txOpen: true,
      openCommitLsn: openTx(),
    };
    await writer.applyBatch(openBatch);
    expect(await due()).toEqual([]);
    // A new process replays the transaction from the checkpoint: its first part is already stored.
    writer = writerOf();
    await writer.applyBatch(openBatch);
    expect(await due()).toEqual([]);
    await commitOpen(stepsOf(4, 800, 1));
    expect(await due()).toEqual(['oa-req-4']);
  });
  it('pushes nothing of an instance whose rows it read after an open transaction touched it', async () => {
    await state.pool.query(`update ${schema}.instance set synced_version = version, first_commit_at = null`);
    await writer.applyBatch({
      changes: [
        ...upserts([
          { table: 'oa.users', values: { user_no: '5', login: 'a', display_name: 'A', feishu_uid: 'u5' } },
          { table: 'oa.users', values: { user_no: '2', login: 'b', display_name: 'B', feishu_uid: 'u2' } },
        ]),
        ...requestWithSteps(7, 1000, 1),
      ],
      endLsn: lsn++,
      commitTime: new Date(),
    });
    // The scheduler claims oa-req-7; before it reads the rows, a transaction adds two of its steps
    // and goes on in the next batch. The rows it then reads hold half of that transaction.
    const claims: string[][] = [];
    const original = InstanceTable.prototype.dueInstances;
    let injected = false;
    vi.spyOn(InstanceTable.prototype, 'dueInstances').mockImplementation(async function (
      this: InstanceTable,
      ...args: Parameters<typeof original>
    ) {
      const found = await original.apply(this, args);
      claims.push(found.map((d) => d.externalId));
      if (!injected && found.some((d) => d.externalId === 'oa-req-7')) {
        injected = true;
        await beginOpen(stepsOf(7, 1010, 2));
      }
      return found;
    });
    const pushed: ExternalInstance[] = [];
    const scheduler = new SyncScheduler({
      db: state.db,
      schema,
      mappings: MAPPINGS,
      push: async (payload) => void pushed.push(payload),
      budget: new RateBudget({ perSecond: 1000, perMinute: 60_000 }),
      concurrency: 1,
      minPushIntervalMs: 0,
      retry: DEFAULT_RETRY_POLICY,
      logger: createLogger('silent'),
      pollIntervalMs: 20,
    });
    scheduler.start();
    try {
      // Claimed, dropped, and then no longer due: the hold keeps it out of the queue (the users'
      // rows dirtied the other instances too; they are pushed meanwhile).
      await waitFor(() => injected && claims.at(-1)?.length === 0, 10_000, 'an empty queue after the claim');
      const of7 = () => pushed.filter((p) => p.instance_id === 'oa-req-7');
      expect(of7()).toEqual([]);
      await commitOpen(stepsOf(7, 1020, 1));
      scheduler.wake();
      await waitFor(() => of7().length > 0, 10_000, 'the push of oa-req-7');
      expect(of7().map((p) => p.task_list?.map((t) => t.task_id).sort())).toEqual([
        ['oa-step-1000', 'oa-step-1010', 'oa-step-1011', 'oa-step-1020'],
      ]);
    } finally {
      await scheduler.stop();
      vi.restoreAllMocks();
    }
  });
});
