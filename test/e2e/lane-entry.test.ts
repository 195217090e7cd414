// The order of due instances within a lane is the time each entered it: an instance promoted from
// the backfill lane by a change queues behind live changes that were already waiting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { LANE_LIVE } from '../../src/replica/instance-vocabulary.js';
import { ReplicaWriter } from '../../src/replica/replica-writer.js';
import type { RowChange } from '../../src/replica/row-change.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { InstanceTable } from '../../src/replica/instance-table.js';
import { LEGACY_MAPPINGS } from '../support/connector-fixture.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const KEYS = new Map([
  ['oa.requests', ['req_id']],
  ['oa.steps', ['step_id']],
  ['oa.cc', ['cc_no']],
  ['oa.users', ['user_no']],
]);

const row = (id: number, title: string) => ({
  req_id: String(id),
  form_type: '1',
  title,
  applicant_no: '5',
  status_code: '1',
  submitted_at: '2026-11-01 00:00:00',
  updated_at: '2026-11-01 00:00:00',
});
const request = (lsn: bigint, id: number, title: string): RowChange => ({
  kind: 'upsert',
  table: 'oa.requests',
  lsn,
  values: row(id, title),
});

describe('lane entry order', () => {
  let db: TestDatabase;
  let state: StateConnection;
  const schema = 'approval_cdc';

  beforeAll(async () => {
    db = await createTestDatabase('lanes');
    state = openStateDb(db.url, schema);
    await migrateStateDb(state);
  });
  afterAll(async () => {
    await state?.close();
    await db?.drop();
  });

  it('pushes a live change waiting in the live lane before backfill instances that became live after it', async () => {
    await new CheckpointStore(state.db, schema).beginSnapshot('s', 50n);
    const writer = new ReplicaWriter(state.db, schema, loadMappings(LEGACY_MAPPINGS), KEYS, 's');
    // The initial copy: requests 1..5 wait in the backfill lane.
    for (let id = 1; id <= 5; id++) await writer.applySnapshotRows('oa.requests', [row(id, 'old')], 60n);
    await new Promise((r) => setTimeout(r, 20));
    // A user creates request 100: it waits in the live lane.
    await writer.applyBatch({ changes: [request(100n, 100, 'new')], endLsn: 101n, commitTime: new Date() });
    await new Promise((r) => setTimeout(r, 20));
    // Then a data fix touches the backfill instances: they move to the live lane, after it.
    await writer.applyBatch({
      changes: [1, 2, 3, 4, 5].map((id, i) => request(200n + BigInt(i), id, 'fixed')),
      endLsn: 210n,
      commitTime: new Date(),
    });
    const due = await new InstanceTable(state.db, schema).dueInstances(10, []);
    expect(due.map((d) => d.lane)).toEqual(Array(6).fill(LANE_LIVE));
    expect(due[0]?.externalId).toBe('oa-req-100');
  });
});
