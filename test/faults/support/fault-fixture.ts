// The fault suite's variant of test/support/connector-fixture.ts: the same ConnectorFixture shape (so
// waitForConvergence works unchanged), but it can target any Postgres server (the suite's own
// restartable cluster, or the shared test server), keep the state database in a second database,
// and route the connector's source and state URLs through proxies. The connector usually runs as a
// child process (connector-process.ts) with the env this fixture derives from its settings.
import pg from 'pg';
import { inject } from 'vitest';
import { loadSettings, type SettingKey } from '../../../src/config/settings.js';
import { startFakeFeishu, type FakeFeishuOptions } from '../../../src/feishu/fake-feishu.js';
import { loadMappings } from '../../../src/mapping/mapping-loader.js';
import { createLogger } from '../../../src/observe/logger.js';
import { Pipeline } from '../../../src/pipeline.js';
import { expectedInstancesOf, LEGACY_MAPPINGS, LEGACY_SCHEMA, settingsEnv, type ConnectorFixture } from '../../support/connector-fixture.js';
import { createDatabaseOn } from '../../support/test-database.js';

export interface FaultFixtureOptions {
  /** Superuser URL of the server to create the databases on; default: the shared test server. */
  adminUrl?: string;
  /** Keep the state schema in a database of its own (on the same server) instead of the source. */
  separateStateDb?: boolean;
  /** Rewrites the source URL the connector uses (e.g. through a TCP proxy). */
  sourceVia?: (url: string) => string;
  /** Rewrites the state URL the connector uses. */
  stateVia?: (url: string) => string;
  settings?: Partial<Record<SettingKey, unknown>>;
  fake?: FakeFeishuOptions;
}

export interface FaultFixture extends ConnectorFixture {
  /** The source database, not through any proxy: for the workload, the checks and the sampler. */
  directSourceUrl: string;
  /** The state database, not through any proxy. */
  directStateUrl: string;
  /** Environment variables that make `approval-cdc run` use exactly this fixture's settings. */
  connectorEnv(extra?: Record<string, string>): NodeJS.ProcessEnv;
}

export async function startFaultFixture(options: FaultFixtureOptions = {}): Promise<FaultFixture> {
  const adminUrl = options.adminUrl ?? inject('adminUrl');
  const db = await createDatabaseOn(adminUrl, 'fault');
  const stateDb = options.separateStateDb ? await createDatabaseOn(adminUrl, 'fstate') : null;
  const sql = new pg.Pool({ connectionString: db.url, max: 4 });
  sql.on('error', () => undefined);
  await sql.query(LEGACY_SCHEMA);
  const fake = await startFakeFeishu({ approvalCodes: '*', ...options.fake });
  const directStateUrl = stateDb?.url ?? db.url;
  const settings = loadSettings({
    overrides: {
      sourceUrl: options.sourceVia ? options.sourceVia(db.url) : db.url,
      stateUrl: options.stateVia ? options.stateVia(directStateUrl) : directStateUrl,
      mappings: LEGACY_MAPPINGS,
      feishuBaseUrl: fake.url,
      feishuAppId: fake.appId,
      feishuAppSecret: fake.appSecret,
      metricsAddress: 'off',
      minPushIntervalMs: 0,
      batchMaxWaitMs: 10,
      heartbeatIntervalMs: 500,
      statusIntervalMs: 300,
      silenceTimeoutMs: 15_000,
      logLevel: process.env.TEST_LOG_LEVEL ?? 'warn',
      ...options.settings,
    },
  });
  const mappings = await Promise.resolve(loadMappings(settings.mappings));
  const fixture: FaultFixture = {
    db,
    fake,
    settings,
    mappings,
    pipeline: null,
    sql,
    directSourceUrl: db.url,
    directStateUrl,
    connectorEnv: (extra = {}) => settingsEnv(settings, extra),
    async startPipeline() {
      const pipeline = new Pipeline({ settings, mappings, logger: createLogger(settings.logLevel) });
      fixture.pipeline = pipeline;
      await pipeline.start();
      return pipeline;
    },
    async stopPipeline() {
      await fixture.pipeline?.stop();
      fixture.pipeline = null;
    },
    expectedInstances: () => expectedInstancesOf(sql, mappings),
    async close() {
      await fixture.stopPipeline().catch(() => undefined);
      await fake.close();
      await sql.end().catch(() => undefined);
      await db.drop().catch(() => undefined);
      await stateDb?.drop().catch(() => undefined);
    },
  };
  return fixture;
}
