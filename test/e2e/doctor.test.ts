import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctor } from '../../src/cli/doctor.js';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { startFakeFeishu, type FakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import type { MappingSet, TableUse } from '../../src/mapping/contract.js';
import { runDoctorChecks, type Finding } from '../../src/ops/doctor-checks.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { migrateStateDb, openStateDb } from '../../src/replica/state-db.js';
import { createTestDatabase, withDatabase, type TestDatabase } from '../support/test-database.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/throwaway-postgres.js';
import { exec } from '../support/legacy-roles.js';

/** A MappingSet that only declares which tables and columns it reads: all doctor looks at. */
function tablesOnly(tables: Record<string, Omit<TableUse, 'table'>>): MappingSet {
  return {
    tables: new Map(Object.entries(tables).map(([table, use]) => [table, { table, ...use }])),
    mappingNames: ['doctor-test'],
    queryColumns: [],
    instancesOfRow: () => [],
    dependentsOfRow: () => [],
    queriesFor: () => [],
    build: () => ({ kind: 'absent' }),
    externalId: (ref) => ref.key.join(':'),
  };
}

function settingsFor(url: string, name: string, extra: Record<string, unknown> = {}): Settings {
  return loadSettings({
    overrides: {
      sourceUrl: url,
      slotName: name,
      publicationName: name,
      stateSchema: `${name}_state`,
      mappings: 'test/e2e',
      metricsAddress: 'off',
      ...extra,
    },
  });
}

// Statements run over a connection of their own.
const sql = exec;

const byId = (findings: Finding[], id: string) => {
  const f = findings.find((x) => x.id === id);
  if (!f) throw new Error(`no finding ${id} among ${findings.map((x) => x.id).join(', ')}`);
  return f;
};
const errors = (findings: Finding[]) => findings.filter((f) => !f.ok && f.severity === 'error');

describe('doctor on a server without logical decoding', () => {
  let cluster: ThrowawayPostgres;
  beforeAll(async () => {
    cluster = await startThrowawayPostgres({ wal_level: 'replica' });
    await sql(cluster.url, 'create table requests (id bigint primary key, title text)');
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('reports wal_level as an error whose fix sets it to logical and restarts', async () => {
    const findings = await runDoctorChecks({
      settings: settingsFor(cluster.url, 'doctor_replica'),
      mappings: tablesOnly({ 'public.requests': { columns: ['id', 'title'], keyColumns: ['id'] } }),
    });
    const walLevel = byId(findings, 'wal_level');
    expect(walLevel).toMatchObject({ ok: false, severity: 'error' });
    expect(walLevel.finding).toContain('replica');
    expect(walLevel.fix).toContain('ALTER SYSTEM SET wal_level = logical');
    expect(walLevel.fix).toContain('restart');
  });
});

describe('doctor on a logical-decoding server', () => {
  let db: TestDatabase;
  const suffix = randomBytes(4).toString('hex');
  const role = `doctor_limited_${suffix}`;
  let fake: FakeFeishu;

  beforeAll(async () => {
    db = await createTestDatabase('doctor');
    fake = await startFakeFeishu();
    await sql(
      db.url,
      `create schema legacy;
       create table legacy.no_ident (id bigint primary key, title text);
       alter table legacy.no_ident replica identity nothing;
       create table legacy.no_pk (id bigint, title text);
       create table legacy.readable (id bigint primary key, title text);
       create table legacy.secret (id bigint primary key, title text);
       create role ${role} login password 'pw';
       grant usage on schema legacy to ${role};
       grant select on legacy.readable to ${role};`,
    );
  });
  afterAll(async () => {
    await fake?.close();
    await db?.drop();
    // The role is cluster-wide; its grants went with the database.
    await sql(withDatabase(db.url, 'postgres'), `drop role if exists ${role}`);
  });

  it('names the tables whose replica identity cannot deliver updates and deletes', async () => {
    const findings = await runDoctorChecks({
      settings: settingsFor(db.url, `doctor_ident_${suffix}`),
      mappings: tablesOnly({
        'legacy.no_ident': { columns: ['id', 'title'], keyColumns: ['id'] },
        'legacy.no_pk': { columns: ['id', 'title'], keyColumns: ['id'] },
        'legacy.readable': { columns: ['id', 'title', 'vanished'], keyColumns: ['id'] },
      }),
    });
    const nothing = byId(findings, 'replica-identity:legacy.no_ident');
    expect(nothing).toMatchObject({ ok: false, severity: 'error' });
    expect(nothing.finding).toContain('legacy.no_ident');
    expect(nothing.finding).toContain('NOTHING');
    expect(nothing.fix).toContain('REPLICA IDENTITY DEFAULT');

    const noPk = byId(findings, 'replica-identity:legacy.no_pk');
    expect(noPk).toMatchObject({ ok: false, severity: 'error' });
    expect(noPk.finding).toContain('legacy.no_pk');
    expect(noPk.fix).toContain('ALTER TABLE "legacy"."no_pk" REPLICA IDENTITY FULL');

    expect(byId(findings, 'replica-identity:legacy.readable').ok).toBe(true);
    const columns = byId(findings, 'table:legacy.readable');
    expect(columns).toMatchObject({ ok: false, severity: 'error' });
    expect(columns.finding).toContain('vanished');
  });

  it('reports a role without SELECT on a mapped table and without REPLICATION', async () => {
    const url = new URL(db.url);
    url.username = role;
    url.password = 'pw';
    const findings = await runDoctorChecks({
      settings: settingsFor(url.toString(), `doctor_role_${suffix}`),
      mappings: tablesOnly({
        'legacy.readable': { columns: ['id', 'title'], keyColumns: ['id'] },
        'legacy.secret': { columns: ['id', 'title'], keyColumns: ['id'] },
      }),
    });
    const select = byId(findings, 'select:legacy.secret');
    expect(select).toMatchObject({ ok: false, severity: 'error' });
    expect(select.fix).toContain(`GRANT SELECT ON "legacy"."secret" TO "${role}"`);
    expect(byId(findings, 'select:legacy.readable').ok).toBe(true);
    const replication = byId(findings, 'replication-role');
    expect(replication).toMatchObject({ ok: false, severity: 'error' });
    expect(replication.fix).toContain(`ALTER ROLE "${role}" WITH REPLICATION`);
  });

  it('finds no error in a healthy setup and exits 0', async () => {
    const name = `doctor_ok_${suffix}`;
    await sql(
      db.url,
      `create table legacy.requests (id bigint primary key, title text, status smallint);
       create table legacy.tasks (task_id bigint primary key, req_id bigint not null, state text);
       create publication ${name} for table legacy.requests, legacy.tasks;`,
    );
    // A slot cannot be created in a transaction that wrote, as a multi-statement query is.
    await sql(db.url, `select pg_create_logical_replication_slot('${name}', 'pgoutput')`);
    const settings = settingsFor(db.url, name, {
      feishuBaseUrl: fake.url,
      feishuAppId: fake.appId,
      feishuAppSecret: fake.appSecret,
    });
    const state = openStateDb(db.url, settings.stateSchema);
    try {
      await migrateStateDb(state);
      const checkpoints = new CheckpointStore(state.db, settings.stateSchema);
      await checkpoints.beginSnapshot(name, 1n);
      await checkpoints.finishSnapshot(name);
    } finally {
      await state.close();
    }
    const mappings = tablesOnly({
      'legacy.requests': { columns: ['id', 'status', 'title'], keyColumns: ['id'] },
      'legacy.tasks': { columns: ['req_id', 'state', 'task_id'], keyColumns: ['task_id'] },
    });

    const findings = await runDoctorChecks({ settings, mappings });
    expect(errors(findings)).toEqual([]);
    for (const id of [
      'wal_level',
      'replication-role',
      'publication',
      'publication-tables',
      'slot',
      'state-db',
      'feishu-credentials',
    ]) {
      expect(byId(findings, id).ok).toBe(true);
    }

    let text = '';
    expect(await doctor(settings, mappings, { json: false, write: (t) => (text += t) })).toBe(0);
    expect(text).toContain('✓ wal_level');
    let json = '';
    expect(await doctor(settings, mappings, { json: true, write: (t) => (json += t) })).toBe(0);
    expect(JSON.parse(json)).toMatchObject({ ok: true });
  });

  it('says which tables setup will add to and drop from a publication its role may alter', async () => {
    const name = `doctor_pub_${suffix}`;
    await sql(db.url, `create publication ${name} for table legacy.readable, legacy.no_ident`);
    const findings = await runDoctorChecks({
      settings: settingsFor(db.url, name),
      mappings: tablesOnly({
        'legacy.readable': { columns: ['id'], keyColumns: ['id'] },
        'legacy.secret': { columns: ['id'], keyColumns: ['id'] },
      }),
    });
    // A superuser may alter it: nothing for the DBA to do, only what setup will run.
    const tables = byId(findings, 'publication-tables');
    expect(tables).toMatchObject({ ok: false, severity: 'info' });
    expect(tables.finding).toContain(`ALTER PUBLICATION "${name}" ADD TABLE "legacy"."secret";`);
    expect(tables.finding).toContain(`ALTER PUBLICATION "${name}" DROP TABLE "legacy"."no_ident";`);
  });
});
