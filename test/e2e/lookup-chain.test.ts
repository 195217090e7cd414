import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMappingTexts } from '../../src/mapping/mapping-loader.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { ReplicaWriter } from '../../src/replica/replica-writer.js';
import type { RowChange } from '../../src/replica/row-change.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { createTestDatabase, type TestDatabase, testPool } from '../support/test-database.js';

// A request's department_id is found through four lookups: request -> user -> team -> unit -> site.
const CHAIN = `
version: 1
defaults: { time_zone: Asia/Shanghai, default_locale: en-US }
lookups:
  users: { table: oa.users, key: user_no }
  teams: { table: oa.teams, key: team_no }
  units: { table: oa.units, key: unit_no }
  sites: { table: oa.sites, key: site_no }
mappings:
  - name: chained
    instance:
      table: oa.requests
      key: req_id
      id: 'req-{req_id}'
      approval_code: leave
      status: PENDING
      title: { column: title }
      user_id: u1
      department_id:
        lookup: users
        by: applicant_no
        get:
          lookup: teams
          by: team_no
          get:
            lookup: units
            by: unit_no
            get: { lookup: sites, by: site_no, get: lark_dept_id }
      links: { pc_link: 'https://oa.example.com/{req_id}' }
      start_time: { time: submitted_at }
      update_time: { time: submitted_at }
`;

// The applicant's manager's Feishu id: a lookup of users through users, whose rows may form a circle.
const MANAGERS = CHAIN.replace(
  /department_id:[\s\S]*?lark_dept_id \}\n/,
  `department_id:
        lookup: users
        by: applicant_no
        get: { lookup: users, by: manager_no, get: feishu_uid }
`,
);

const KEYS = new Map([
  ['oa.requests', ['req_id']],
  ['oa.users', ['user_no']],
  ['oa.teams', ['team_no']],
  ['oa.units', ['unit_no']],
  ['oa.sites', ['site_no']],
]);

const upsert = (table: string, lsn: bigint, values: Record<string, string>): RowChange => ({
  kind: 'upsert',
  table,
  lsn,
  values,
});

describe('lookup chains', () => {
  let db: TestDatabase;
  let state: StateConnection;
  let sql: pg.Pool;
  const schema = 'approval_cdc';

  beforeAll(async () => {
    db = await createTestDatabase('chain');
    state = openStateDb(db.url, schema);
    await migrateStateDb(state);
    sql = testPool({ connectionString: db.url, max: 1 });
  });
  afterAll(async () => {
    await sql?.end();
    await state?.close();
    await db?.drop();
  });

  const writerFor = async (text: string) => {
    await sql.query(`truncate ${schema}.row_image, ${schema}.instance, ${schema}.checkpoint`);
    await new CheckpointStore(state.db, schema).beginSnapshot('s', 50n);
    return new ReplicaWriter(state.db, schema, loadMappingTexts([{ file: 'chain.yaml', text }]), KEYS, 's');
  };
  const version = async () =>
    Number(
      (await sql.query(`select version from ${schema}.instance where external_id = 'req-1'`)).rows[0]
        ?.version,
    );
  const request = upsert('oa.requests', 100n, {
    req_id: '1',
    title: 'T',
    applicant_no: '5',
    submitted_at: '2026-11-01 00:00:00',
  });

  it('dirties the instance behind a fourth lookup when the far row changes', async () => {
    const writer = await writerFor(CHAIN);
    await writer.applyBatch({
      changes: [
        request,
        upsert('oa.users', 101n, { user_no: '5', team_no: '7' }),
        upsert('oa.teams', 102n, { team_no: '7', unit_no: '8' }),
        upsert('oa.units', 103n, { unit_no: '8', site_no: '9' }),
        upsert('oa.sites', 104n, { site_no: '9', lark_dept_id: 'd-old' }),
      ],
      endLsn: 110n,
      commitTime: new Date(),
    });
    const before = await version();
    const summary = await writer.applyBatch({
      changes: [upsert('oa.sites', 120n, { site_no: '9', lark_dept_id: 'd-new' })],
      endLsn: 125n,
      commitTime: new Date(),
    });
    expect(summary.instancesDirtied).toBe(1);
    expect(await version()).toBe(before + 1);
  });

  it('follows lookups through rows that lead back to each other, and ends', async () => {
    const writer = await writerFor(MANAGERS);
    await writer.applyBatch({
      changes: [
        request,
        upsert('oa.users', 101n, { user_no: '5', manager_no: '6', feishu_uid: 'u5' }),
        upsert('oa.users', 102n, { user_no: '6', manager_no: '5', feishu_uid: 'u6' }),
      ],
      endLsn: 110n,
      commitTime: new Date(),
    });
    const before = await version();
    const summary = await writer.applyBatch({
      changes: [upsert('oa.users', 120n, { user_no: '6', manager_no: '5', feishu_uid: 'u6-new' })],
      endLsn: 125n,
      commitTime: new Date(),
    });
    expect(summary.instancesDirtied).toBe(1);
    expect(await version()).toBe(before + 1);
  });
});
