// A state database written before migration 0022-ordered-keys (images under the digest indexes) is
// upgraded in place: the images it holds are found by key and by lookup afterwards, a later change
// replaces its image instead of adding a second one, and the md5 lookup indexes are replaced.
import { Migrator, sql, type MigrationProvider } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { ReplicaWriter } from '../../src/replica/replica-writer.js';
import { ensureRowQueryIndexes, queryRows } from '../../src/replica/row-query.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { stateMigrations } from '../../migrations/index.js';
import { LEGACY_MAPPINGS } from '../support/connector-fixture.js';
import { LEGACY_KEYS } from '../support/replica-check.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

// Not the template's schema: that one is migrated to the latest already.
const schema = 'upgraded_cdc';
const KEYS = new Map(Object.entries(LEGACY_KEYS));
const T = '2026-11-01 00:00:00';

describe('upgrading to ordered index keys', () => {
  const mappings = loadMappings(LEGACY_MAPPINGS);
  let db: TestDatabase;
  let state: StateConnection;

  beforeAll(async () => {
    db = await createTestDatabase('upg22');
    state = openStateDb(db.url, schema);
    // Every migration before 0022 (names sort in the order they run).
    const before = Object.fromEntries(
      Object.entries(stateMigrations(schema)).filter(([name]) => name < '0022-ordered-keys'),
    );
    const provider: MigrationProvider = { getMigrations: async () => before };
    await state.pool.query(`create schema if not exists "${schema}"`);
    const { error } = await new Migrator({
      db: state.db,
      provider,
      migrationTableSchema: schema,
      migrationTableName: 'kysely_migration',
      migrationLockTableName: 'kysely_migration_lock',
      allowUnorderedMigrations: true,
    }).migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    // What the writer of before 0022 stored, and one of its md5 lookup indexes.
    await state.pool.query(`insert into ${schema}.row_image (tbl, pk, lsn, deleted, data) values
      ('oa.requests', '["1"]', 10, false, '{"req_id":"1","form_type":"1","title":"Old","applicant_no":"5","status_code":"1","submitted_at":"${T}","updated_at":"${T}"}'),
      ('oa.steps', '["11"]', 10, false, '{"step_id":"11","req_id":"1","seq":"1","node_name":"N","approver_no":"6","state_code":"0","created_at":"${T}","updated_at":"${T}"}')`);
    await state.pool.query(`create index row_image_q_0123456789abcdef on ${schema}.row_image
      (md5(data ->> 'req_id'), tbl) where data ? 'req_id'`);
    await migrateStateDb(state);
    await ensureRowQueryIndexes(state.db, schema, mappings.queryColumns);
    await new CheckpointStore(state.db, schema).beginSnapshot('s', 5n);
  });
  afterAll(async () => {
    await state?.close();
    await db?.drop();
  });

  it('replaces an image stored before the upgrade and finds it by lookup', async () => {
    await new ReplicaWriter(state.db, schema, mappings, KEYS, 's').applyBatch({
      endLsn: 30n,
      commitTime: new Date(),
      changes: [
        {
          kind: 'upsert',
          table: 'oa.requests',
          lsn: 20n,
          values: {
            req_id: '1',
            form_type: '1',
            title: 'New',
            applicant_no: '5',
            status_code: '1',
            submitted_at: T,
            updated_at: T,
          },
        },
      ],
    });
    const { rows } = await sql<{ title: string; lsn: string }>`select data ->> 'title' as title, lsn::text
      from ${sql.id(schema, 'row_image')} where tbl = 'oa.requests' and pk = '["1"]'`.execute(state.db);
    expect(rows).toEqual([{ title: 'New', lsn: '20' }]);
    const [steps] = await queryRows(state.db, schema, [{ table: 'oa.steps', match: { req_id: '1' } }]);
    expect(steps?.map((r) => r.values.step_id)).toEqual(['11']);
    const { rows: indexes } = await sql<{ name: string }>`select indexname as name from pg_indexes
      where schemaname = ${schema} and tablename = 'row_image' and indexdef like '%md5%'`.execute(state.db);
    expect(indexes).toEqual([]);
  });
});
