import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { ReplicaWriter } from '../../src/replica/replica-writer.js';
import { loadInstanceRows } from '../../src/replica/row-loader.js';
import { ensureRowQueryIndexes, queryRows } from '../../src/replica/row-query.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { LEGACY_MAPPINGS } from '../support/connector-fixture.js';
import { createTestDatabase, type TestDatabase, testPool } from '../support/test-database.js';

const KEYS = new Map([
  ['oa.requests', ['req_id']],
  ['oa.steps', ['step_id']],
  ['oa.cc', ['cc_no']],
  ['oa.users', ['user_no']],
]);
const T = '2026-11-01 00:00:00';
const schema = 'approval_cdc';

describe('row queries', () => {
  const mappings = loadMappings(LEGACY_MAPPINGS);
  let db: TestDatabase;
  let state: StateConnection;
  // One connection that may not scan the table: a query no index answers still runs, but its
  // index counters stay still, which is what the first test looks at.
  let noSeq: Kysely<any>;

  beforeAll(async () => {
    db = await createTestDatabase('rowq');
    state = openStateDb(db.url, schema);
    await migrateStateDb(state);
    noSeq = new Kysely<any>({
      dialect: new PostgresDialect({
        pool: testPool({ connectionString: db.url, max: 1, options: '-c enable_seqscan=off' }),
      }),
    });
    await new CheckpointStore(state.db, schema).beginSnapshot('s', 50n);
    const writer = new ReplicaWriter(state.db, schema, mappings, KEYS, 's');
    await writer.applyBatch({
      endLsn: 100n,
      commitTime: new Date(),
      changes: [
        { kind: 'upsert', table: 'oa.users', lsn: 90n, values: { user_no: '5', emp_no: 'E5', name: 'Ann' } },
        { kind: 'upsert', table: 'oa.users', lsn: 90n, values: { user_no: '6', emp_no: 'E6', name: 'Bo' } },
        {
          kind: 'upsert',
          table: 'oa.requests',
          lsn: 91n,
          values: {
            req_id: '1',
            form_type: '1',
            title: 'T',
            applicant_no: '5',
            status_code: '1',
            submitted_at: T,
            updated_at: T,
          },
        },
        {
          kind: 'upsert',
          table: 'oa.steps',
          lsn: 92n,
          values: {
            step_id: '11',
            req_id: '1',
            seq: '1',
            node_name: 'N',
            approver_no: '6',
            state_code: '0',
            created_at: T,
            updated_at: T,
          },
        },
        {
          kind: 'upsert',
          table: 'oa.steps',
          lsn: 92n,
          values: {
            step_id: '12',
            req_id: '1',
            seq: '2',
            node_name: 'N',
            approver_no: '5',
            state_code: '0',
            created_at: T,
            updated_at: T,
          },
        },
        { kind: 'delete', table: 'oa.steps', lsn: 93n, values: { step_id: '12' } },
        {
          kind: 'upsert',
          table: 'oa.cc',
          lsn: 94n,
          values: { cc_no: '21', req_id: '1', user_no: '6', read_flag: 'N', created_at: T, updated_at: T },
        },
      ],
    });
  });
  afterAll(async () => {
    await noSeq?.destroy();
    await state?.close();
    await db?.drop();
  });

  async function indexScans(): Promise<Map<string, number>> {
    await sql`select pg_stat_force_next_flush()`.execute(noSeq);
    await sql`select 1`.execute(noSeq);
    const { rows } = await sql<{ name: string; scans: string }>`
      select indexrelname as name, idx_scan::text as scans from pg_stat_user_indexes
      where schemaname = ${schema} and relname = 'row_image' and indexrelname like 'row_image_q_%'`.execute(
      state.db,
    );
    return new Map(rows.map((r) => [r.name, Number(r.scans)]));
  }

  it('looks every query shape of the legacy mappings up through an index of its own', async () => {
    expect(mappings.queryColumns).toEqual(['applicant_no', 'approver_no', 'req_id', 'user_no']);
    await ensureRowQueryIndexes(state.db, schema, mappings.queryColumns);
    const before = await indexScans();
    expect(before.size).toBe(4);

    const loaded = await loadInstanceRows(noSeq, schema, mappings, { mapping: 'oa-request', key: ['1'] });
    expect(
      loaded
        .rows({ table: 'oa.steps', match: { req_id: '1' } })
        ?.map((r) => [r.values.step_id, r.deleted])
        .sort(),
    ).toEqual([
      ['11', false],
      ['12', true],
    ]);
    // The lookups' reverse direction: who reads user 5 and user 6.
    const [applicantOf, approverOf] = await queryRows(noSeq, schema, [
      { table: 'oa.requests', match: { applicant_no: '5' } },
      { table: 'oa.steps', match: { approver_no: '6' } },
    ]);
    expect(applicantOf?.map((r) => r.values.req_id)).toEqual(['1']);
    expect(approverOf?.map((r) => r.values.step_id)).toEqual(['11']);

    let after = await indexScans();
    for (let i = 0; i < 50 && [...before].some(([name, n]) => (after.get(name) ?? 0) <= n); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await indexScans();
    }
    for (const [name, n] of before) expect(after.get(name), name).toBeGreaterThan(n);
  });

  it('answers a query of several columns with only the rows matching all of them', async () => {
    const [rows] = await queryRows(state.db, schema, [
      { table: 'oa.steps', match: { req_id: '1', approver_no: '5' } },
    ]);
    expect(rows?.map((r) => r.values.step_id)).toEqual(['12']);
  });

  it('drops the index of a column no mapping queries any more and builds it again when one does', async () => {
    await ensureRowQueryIndexes(state.db, schema, ['req_id']);
    expect([...(await indexScans()).keys()]).toHaveLength(1);
    await ensureRowQueryIndexes(state.db, schema, mappings.queryColumns);
    expect([...(await indexScans()).keys()]).toHaveLength(4);
  });

  it('tells apart keys and looked-up values that share the indexed prefix of 256 characters', async () => {
    const writer = new ReplicaWriter(state.db, schema, mappings, KEYS, 's');
    const shared = 'u'.repeat(256);
    const user = (no: string, name: string, lsn: bigint) =>
      ({ kind: 'upsert', table: 'oa.users', lsn, values: { user_no: no, feishu_uid: name } }) as const;
    const request = (id: string, applicant: string) =>
      ({
        kind: 'upsert',
        table: 'oa.requests',
        lsn: 202n,
        values: {
          req_id: id,
          form_type: '1',
          title: id,
          applicant_no: applicant,
          status_code: '1',
          submitted_at: T,
          updated_at: T,
        },
      }) as const;
    await writer.applyBatch({
      endLsn: 210n,
      commitTime: new Date(),
      changes: [
        user(`${shared}A`, 'Ann', 201n),
        user(`${shared}B`, 'Bo', 201n),
        request('7', `${shared}A`),
        request('8', `${shared}B`),
      ],
    });
    // A later change of one of the two keys replaces its image only.
    await writer.applyBatch({
      endLsn: 220n,
      commitTime: new Date(),
      changes: [user(`${shared}B`, 'Bea', 215n)],
    });
    const { rows } = await sql<{ pk: string; name: string }>`select pk, data ->> 'feishu_uid' as name
      from ${sql.id(schema, 'row_image')} where tbl = 'oa.users' and pk like ${`%${shared}%`} order by pk`.execute(
      state.db,
    );
    expect(rows.map((r) => [r.pk.slice(-3), r.name])).toEqual([
      ['A"]', 'Ann'],
      ['B"]', 'Bea'],
    ]);
    const [ofA, ofB] = await queryRows(noSeq, schema, [
      { table: 'oa.requests', match: { applicant_no: `${shared}A` } },
      { table: 'oa.requests', match: { applicant_no: `${shared}B` } },
    ]);
    expect(ofA?.map((r) => r.values.req_id)).toEqual(['7']);
    expect(ofB?.map((r) => r.values.req_id)).toEqual(['8']);
  });
});
