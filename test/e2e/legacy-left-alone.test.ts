// The legacy server left alone: with default settings (no APPROVAL_CDC_STATE_URL, so the embedded
// state store) `setup`, a 1,000-row copy and a live workload leave no object of the connector's in the
// legacy database but its slot and the publication (here made by the DBA). The connector's role even
// has CREATE on the database, so nothing but the design keeps a state schema out of it (before the
// embedded store, setup created schema approval_cdc there).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setup } from '../../src/cli/setup.js';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { createLogger } from '../../src/core/logger.js';
import { startFakeFeishu, type FakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import type { MappingSet } from '../../src/mapping/contract.js';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { Pipeline } from '../../src/pipeline.js';
import { embeddedInitialised } from '../../src/replica/embedded-state.js';
import {
  LEGACY_MAPPINGS,
  LEGACY_SCHEMA,
  expectedInstancesOf,
  waitForConvergence,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import { newWorkloadState, seededRandom, seedUsers, workloadStep } from '../support/legacy-workload.js';
import {
  MAPPED_TABLES as TABLES,
  asConnectorRole,
  connectorGrantsSql,
  createLegacyRoles,
  dropLegacyRoles,
  ownTablesSql,
  type LegacyRoles,
} from '../support/legacy-roles.js';
import { createTestDatabase, type TestDatabase, testPool } from '../support/test-database.js';

/** Every object of the database that is not Postgres's own, as "kind:name" lines. */
const CATALOG = `
  select 'schema:' || nspname as o from pg_namespace
   where nspname not like 'pg\\_%' and nspname <> 'information_schema'
  union all
  select 'relation:' || n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema'
  union all
  select 'function:' || n.nspname || '.' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema'
  union all
  select 'type:' || n.nspname || '.' || t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace
   where n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema'
  union all select 'trigger:' || tgname from pg_trigger where not tgisinternal
  union all select 'event trigger:' || evtname from pg_event_trigger
  union all select 'extension:' || extname from pg_extension
  union all select 'publication:' || pubname from pg_publication
  order by 1`;

/** Objects of this database owned by the role. */
const OWNED = `
  select 'schema:' || nspname as o from pg_namespace where nspowner = $1::regrole
  union all select 'relation:' || relname from pg_class where relowner = $1::regrole
  union all select 'function:' || proname from pg_proc where proowner = $1::regrole
  union all select 'type:' || typname from pg_type where typowner = $1::regrole
  union all select 'publication:' || pubname from pg_publication where pubowner = $1::regrole`;

describe('the legacy server with default settings', () => {
  let legacy: TestDatabase;
  let admin: pg.Pool;
  let fake: FakeFeishu;
  let stateDir: string;
  let settings: Settings;
  let mappings: MappingSet;
  let pipeline: Pipeline | null = null;
  let roles: LegacyRoles;
  let publication: string;

  beforeAll(async () => {
    legacy = await createTestDatabase('alone', { empty: true });
    admin = testPool({ connectionString: legacy.url, max: 2 });
    await admin.query(LEGACY_SCHEMA);
    roles = await createLegacyRoles(inject('adminUrl'), 'alone', { replication: true });
    publication = `pub_${roles.cdc}`;
    await admin.query(
      `${ownTablesSql(roles)}
       ${connectorGrantsSql(roles, { createOn: legacy.name, publication: { name: publication, tables: TABLES } })}`,
    );
    // A generous Feishu budget: the test is about the legacy server, and at the default budget the
    // 420 instances alone took 25 s to push.
    fake = await startFakeFeishu({ approvalCodes: '*', perMinute: 100_000, perSecond: 500 });
    stateDir = await mkdtemp(join(tmpdir(), 'acs-'));
    settings = loadSettings({
      overrides: {
        sourceUrl: asConnectorRole(legacy.url, roles),
        // The defaults, but for where the embedded store's directory is, what a test must name, and
        // the Feishu budget.
        stateDir,
        ratePerMinute: 100_000,
        ratePerSecond: 500,
        slotName: legacy.name,
        publicationName: publication,
        mappings: LEGACY_MAPPINGS,
        feishuBaseUrl: fake.url,
        feishuAppId: fake.appId,
        feishuAppSecret: fake.appSecret,
        metricsAddress: 'off',
        minPushIntervalMs: 0,
        batchMaxWaitMs: 10,
        statusIntervalMs: 300,
        logLevel: 'silent',
      },
    });
    mappings = await Promise.resolve(loadMappings(LEGACY_MAPPINGS));
  });

  afterAll(async () => {
    await pipeline?.stop().catch(() => undefined);
    await fake?.close();
    await admin?.end().catch(() => undefined);
    await legacy?.drop().catch(() => undefined);
    if (roles) await dropLegacyRoles(inject('adminUrl'), roles).catch(() => undefined);
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it(
    'holds nothing of the connector but its slot and publication after setup, a 1,000-row copy and a workload',
    { timeout: 240_000 },
    async () => {
      expect(settings.stateUrl).toBeUndefined();
      // 20 users, 420 requests with one step each, a CC on every third: 1,000 rows to copy.
      await seedUsers(admin);
      await admin.query(`begin;
      insert into oa.requests (req_id, form_type, title, applicant_no, status_code, reason, submitted_at, updated_at)
        select g, 1 + g % 3, 'Request ' || g, 1 + g % 20, 1, 'r' || g, '2026-01-01'::timestamp + g * interval '1 minute',
               '2026-01-01'::timestamp + g * interval '1 minute' from generate_series(1, 420) g;
      insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        select g, g, 1, 'Manager', 1 + (g + 1) % 20, 0, '2026-01-01', '2026-01-01' from generate_series(1, 420) g;
      insert into oa.cc (cc_no, req_id, user_no, created_at) select g, g * 3, 1 + g % 20, '2026-01-01' from generate_series(1, 140) g;
      commit;`);
      const rows = await admin.query<{ n: number }>(
        `select (select count(*) from oa.users) + (select count(*) from oa.requests) + (select count(*) from oa.steps)
            + (select count(*) from oa.cc) as n`,
      );
      expect(Number(rows.rows[0]?.n)).toBe(1000);
      const before = (await admin.query<{ o: string }>(CATALOG)).rows.map((r) => r.o);

      await setup(settings, mappings, createLogger('silent'));
      expect(embeddedInitialised(stateDir)).toBe(true);
      pipeline = new Pipeline({ settings, mappings, logger: createLogger('silent') });
      await pipeline.start();
      const random = seededRandom(13);
      const workload = newWorkloadState(10_001);
      const clock = { minute: 0 };
      for (let i = 0; i < 60; i++) await workloadStep(admin, workload, random, clock);
      const fx = { fake, expectedInstances: () => expectedInstancesOf(admin, mappings) };
      await waitForConvergence(fx as unknown as ConnectorFixture, 60_000);

      const after = (await admin.query<{ o: string }>(CATALOG)).rows.map((r) => r.o);
      expect(after).toEqual(before);
      expect((await admin.query<{ o: string }>(OWNED, [roles.cdc])).rows).toEqual([]);
      const slots = await admin.query(
        'select slot_name from pg_replication_slots where database = current_database()',
      );
      expect(slots.rows).toEqual([{ slot_name: legacy.name }]);
      const publications = await admin.query('select pubname from pg_publication');
      expect(publications.rows).toEqual([{ pubname: publication }]);
      expect(after).not.toContain('schema:approval_cdc');
    },
  );
});
