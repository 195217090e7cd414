// Day one on a legacy database whose tables belong to the application's role: one test per documented
// setup, each with real roles on the test server. In every one, `doctor`'s verdict and what `setup`
// then does agree: both succeed, or both name the same missing grant with the same SQL (and setup
// created no slot).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setup } from '../../src/cli/setup.js';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { describeError } from '../../src/errors.js';
import { startFakeFeishu, type FakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import type { MappingSet } from '../../src/mapping/contract.js';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { runDoctorChecks, type Finding } from '../../src/ops/doctor-checks.js';
import { createLogger } from '../../src/core/logger.js';
import { Pipeline } from '../../src/pipeline.js';
import { LEGACY_MAPPINGS, LEGACY_SCHEMA } from '../support/connector-fixture.js';
import {
  MAPPED_TABLES as TABLES,
  asConnectorRole,
  connectorGrantsSql,
  createLegacyRoles,
  dropLegacyRoles,
  exec,
  ownTablesSql,
  type ConnectorGrants,
  type LegacyRoles,
} from '../support/legacy-roles.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const logger = createLogger('silent');

let roles: LegacyRoles;
let CDC: string;

let fake: FakeFeishu;
let mappings: MappingSet;
const dbs: TestDatabase[] = [];

async function count(url: string, text: string, params: unknown[]): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, params)).rowCount ?? 0;
  } finally {
    await c.end();
  }
}

/** A legacy database whose tables belong to the application's role, and a state database. */
async function legacyDatabase(): Promise<{ legacy: TestDatabase; state: TestDatabase }> {
  const legacy = await createTestDatabase('priv');
  const state = await createTestDatabase('privstate');
  dbs.push(legacy, state);
  await exec(legacy.url, LEGACY_SCHEMA);
  await exec(legacy.url, ownTablesSql(roles, [...TABLES, 'oa.audit_log']));
  return { legacy, state };
}

function connectorSettings(legacy: TestDatabase, state: TestDatabase): Settings {
  return loadSettings({
    overrides: {
      sourceUrl: asConnectorRole(legacy.url, roles),
      stateUrl: state.url,
      slotName: legacy.name,
      publicationName: `pub_${legacy.name}`,
      mappings: LEGACY_MAPPINGS,
      feishuBaseUrl: fake.url,
      feishuAppId: fake.appId,
      feishuAppSecret: fake.appSecret,
      metricsAddress: 'off',
      logLevel: 'silent',
    },
  });
}

/** Gives the connector's role the grants of one setup on the legacy database. */
const grant = (legacy: TestDatabase, g: ConnectorGrants) => exec(legacy.url, connectorGrantsSql(roles, g));

const errorsOf = (findings: Finding[]) => findings.filter((f) => !f.ok && f.severity === 'error');

/**
 * Runs doctor, then setup, and checks they agree. Returns doctor's errors and setup's error text ('' on
 * success).
 */
async function doctorThenSetup(
  settings: Settings,
  legacy: TestDatabase,
): Promise<{ errors: Finding[]; setupError: string }> {
  const errors = errorsOf(await runDoctorChecks({ settings, mappings }));
  let setupError = '';
  try {
    await setup(settings, mappings, logger);
  } catch (error) {
    setupError = describeError(error);
  }
  const slots = await count(legacy.url, 'select 1 from pg_replication_slots where slot_name = $1', [
    settings.slotName,
  ]);
  if (errors.length === 0) {
    expect(setupError).toBe('');
    expect(slots).toBe(1);
  } else {
    expect(setupError).not.toBe('');
    for (const e of errors) expect(setupError).toContain(e.fix ?? '(no fix)');
    expect(slots, 'a setup that failed its checks created no slot').toBe(0);
  }
  return { errors, setupError };
}

beforeAll(async () => {
  fake = await startFakeFeishu({ approvalCodes: '*' });
  mappings = await Promise.resolve(loadMappings(LEGACY_MAPPINGS));
  roles = await createLegacyRoles(inject('adminUrl'), 'priv');
  CDC = roles.cdc;
});

afterAll(async () => {
  await fake?.close();
  for (const db of dbs) await db.drop().catch(() => undefined);
  if (roles) await dropLegacyRoles(inject('adminUrl'), roles);
});

describe('least privilege, doctor and setup agreeing', () => {
  it('runs with REPLICATION, SELECT and a publication the DBA made, the tables owned by another role', async () => {
    const { legacy, state } = await legacyDatabase();
    const settings = connectorSettings(legacy, state);
    await grant(legacy, {
      replication: true,
      publication: { name: settings.publicationName, tables: TABLES },
    });
    const { errors } = await doctorThenSetup(settings, legacy);
    expect(errors).toEqual([]);
    // run, on top of setup: no ALTER PUBLICATION on each start (it needed the tables' owner).
    const pipeline = new Pipeline({ settings, mappings, logger });
    try {
      await pipeline.start();
      expect(pipeline.streaming || (await waitStreaming(pipeline))).toBe(true);
    } finally {
      await pipeline.stop();
    }
  });

  it('adjusts a publication it owns: drops a table published for nothing', async () => {
    const { legacy, state } = await legacyDatabase();
    const settings = connectorSettings(legacy, state);
    await grant(legacy, {
      replication: true,
      publication: {
        name: settings.publicationName,
        tables: [...TABLES, 'oa.audit_log'],
        ownedByConnector: true,
      },
    });
    const findings = await runDoctorChecks({ settings, mappings });
    const tables = findings.find((f) => f.id === 'publication-tables');
    expect(tables).toMatchObject({ ok: false, severity: 'info' });
    expect(tables?.finding).toContain(`DROP TABLE "oa"."audit_log"`);
    const { errors } = await doctorThenSetup(settings, legacy);
    expect(errors).toEqual([]);
    const published = await count(
      legacy.url,
      'select 1 from pg_publication_tables where pubname = $1 and tablename = $2',
      [settings.publicationName, 'audit_log'],
    );
    expect(published).toBe(0);
  });

  it('names a missing SELECT with its GRANT in doctor and in setup alike', async () => {
    const { legacy, state } = await legacyDatabase();
    const settings = connectorSettings(legacy, state);
    await grant(legacy, {
      replication: true,
      select: ['oa.users', 'oa.requests', 'oa.steps'],
      publication: { name: settings.publicationName, tables: TABLES },
    });
    const { errors, setupError } = await doctorThenSetup(settings, legacy);
    expect(errors.map((e) => e.id)).toEqual(['select:oa.cc']);
    expect(setupError).toContain(`GRANT SELECT ON "oa"."cc" TO "${CDC}";`);
  });

  it('names a missing REPLICATION with its ALTER ROLE in doctor and in setup alike', async () => {
    const { legacy, state } = await legacyDatabase();
    const settings = connectorSettings(legacy, state);
    await grant(legacy, {
      replication: false,
      publication: { name: settings.publicationName, tables: TABLES },
    });
    const { errors, setupError } = await doctorThenSetup(settings, legacy);
    expect(errors.map((e) => e.id)).toEqual(['replication-role']);
    expect(setupError).toContain(`ALTER ROLE "${CDC}" WITH REPLICATION;`);
  });

  it('names the table a DBA-made publication lacks, with the ADD TABLE for the DBA', async () => {
    const { legacy, state } = await legacyDatabase();
    const settings = connectorSettings(legacy, state);
    await grant(legacy, {
      replication: true,
      publication: { name: settings.publicationName, tables: ['oa.users', 'oa.requests', 'oa.steps'] },
    });
    const { errors, setupError } = await doctorThenSetup(settings, legacy);
    expect(errors.map((e) => e.id)).toEqual(['publication-tables']);
    expect(setupError).toContain(`ALTER PUBLICATION "${settings.publicationName}" ADD TABLE "oa"."cc";`);
    expect(setupError).toContain('oa.cc');
  });

  it('creates the publication itself when its role owns the tables', async () => {
    const { legacy, state } = await legacyDatabase();
    const settings = connectorSettings(legacy, state);
    await grant(legacy, { replication: true, memberOfApp: true, select: [], createOn: legacy.name });
    try {
      const { errors } = await doctorThenSetup(settings, legacy);
      expect(errors).toEqual([]);
      expect(
        await count(legacy.url, 'select 1 from pg_publication_tables where pubname = $1', [
          settings.publicationName,
        ]),
      ).toBe(TABLES.length);
    } finally {
      await exec(legacy.url, `revoke ${roles.app} from ${CDC}`);
    }
  });

  it('asks for the tables owner when its role may not create the publication', async () => {
    const { legacy, state } = await legacyDatabase();
    const settings = connectorSettings(legacy, state);
    await grant(legacy, { replication: true, createOn: legacy.name });
    const { errors, setupError } = await doctorThenSetup(settings, legacy);
    expect(errors.map((e) => e.id)).toEqual(['publication']);
    expect(setupError).toContain(`CREATE PUBLICATION "${settings.publicationName}" FOR TABLE`);
    expect(setupError).toContain(`ownership of`);
  });
});

async function waitStreaming(p: Pipeline): Promise<boolean> {
  for (let i = 0; i < 100 && !p.streaming; i++) await new Promise((r) => setTimeout(r, 100));
  return p.streaming;
}
