// Runs the real pipeline in-process against a test database and the fake Feishu over HTTP, with
// helpers to drive the legacy workload and compare Feishu's state with what the database says.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { loadSettings, SETTINGS_TABLE, type Settings } from '../../src/config/settings.js';
import type { ExternalInstance } from '../../src/feishu/external-instance.js';
import {
  startFakeFeishu,
  type FakeFeishu,
  type FakeFeishuOptions,
} from '../../src/feishu/fake/fake-feishu.js';
import type { MappingSet } from '../../src/mapping/contract.js';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { createLogger } from '../../src/core/logger.js';
import { Pipeline, type PipelineOptions } from '../../src/pipeline.js';
import { expectedInstancesOf } from './expected-instances.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export { expectedInstancesOf };

export const LEGACY_SCHEMA = readFileSync(
  new URL('../../examples/legacy-approval/schema.sql', import.meta.url),
  'utf8',
);
export const LEGACY_MAPPINGS = new URL('../../mappings/legacy-approval.yaml', import.meta.url).pathname;

export interface FixtureOptions {
  /** Use this database as the legacy one instead of a fresh one on the shared test server. */
  database?: TestDatabase;
  schemaSql?: string;
  mappingsPath?: string;
  settings?: Record<string, unknown>;
  fake?: FakeFeishuOptions;
  /** Do not start the pipeline (the test starts it, e.g. as a child process). */
  noPipeline?: boolean;
  /** Runs last in close(), e.g. to drop a database the caller made. */
  afterClose?(): Promise<void>;
}

export interface ConnectorFixture {
  /** The legacy (source) database. */
  db: TestDatabase;
  /**
   * The state database: its own database on the test server (the default shape keeps the state out of
   * the legacy database), unless the test's settings name a stateUrl.
   */
  stateDb: TestDatabase | null;
  /** The URL the connector's state lives at. */
  stateUrl: string;
  /** A pool on the state database. */
  state: pg.Pool;
  fake: FakeFeishu;
  settings: Settings;
  mappings: MappingSet;
  pipeline: Pipeline | null;
  sql: pg.Pool;
  startPipeline(extra?: Partial<PipelineOptions>): Promise<Pipeline>;
  stopPipeline(): Promise<void>;
  /** The payloads Feishu should hold now, built by the mapping from the live source rows. */
  expectedInstances(): Promise<Map<string, ExternalInstance>>;
  close(): Promise<void>;
}

export async function startConnectorFixture(options: FixtureOptions = {}): Promise<ConnectorFixture> {
  // The legacy database holds no state schema; the state is in a database of its own, migrated (a
  // clone of the run's template), as with the embedded store, only cheaper.
  const db = options.database ?? (await createTestDatabase('e2e', { empty: true }));
  const explicitState = options.settings?.stateUrl as string | undefined;
  const stateDb = explicitState ? null : await createTestDatabase('e2estate');
  const stateUrl = explicitState ?? (stateDb as TestDatabase).url;
  const sql = new pg.Pool({ connectionString: db.url, max: 4 });
  sql.on('error', () => undefined);
  const state = new pg.Pool({ connectionString: stateUrl, max: 2 });
  state.on('error', () => undefined);
  await sql.query(options.schemaSql ?? LEGACY_SCHEMA);
  const fake = await startFakeFeishu({ approvalCodes: '*', ...options.fake });
  const settings = loadSettings({
    overrides: {
      sourceUrl: db.url,
      stateUrl,
      // Slot names are global to the cluster; test files share one, so each database gets its own.
      slotName: db.name,
      mappings: options.mappingsPath ?? LEGACY_MAPPINGS,
      feishuBaseUrl: fake.url,
      feishuAppId: fake.appId,
      feishuAppSecret: fake.appSecret,
      metricsAddress: 'off',
      minPushIntervalMs: 0,
      batchMaxWaitMs: 10,
      heartbeatIntervalMs: 500,
      statusIntervalMs: 300,
      logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...options.settings,
    },
  });
  const mappings = await Promise.resolve(loadMappings(settings.mappings));
  const logger = createLogger(settings.logLevel);
  const fixture: ConnectorFixture = {
    db,
    stateDb,
    stateUrl,
    state,
    fake,
    settings,
    mappings,
    pipeline: null,
    sql,
    async startPipeline(extra = {}) {
      const pipeline = new Pipeline({ settings, mappings, logger, ...extra });
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
      await state.end().catch(() => undefined);
      await db.drop().catch(() => undefined);
      await stateDb?.drop().catch(() => undefined);
      await options.afterClose?.();
    },
  };
  if (!options.noPipeline) await fixture.startPipeline();
  return fixture;
}

/** The environment of a child `approval-cdc run` with exactly these settings (plus `extra`). */
export function settingsEnv(settings: Settings, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, spec] of Object.entries(SETTINGS_TABLE)) {
    const value = (settings as Record<string, unknown>)[key];
    if (value !== undefined && value !== null)
      env[spec.env] = value instanceof Date ? value.toISOString() : String(value);
  }
  return { ...env, ...extra };
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with the last value). */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out waiting for ${what}; last value ${JSON.stringify(last)}${lastError ? `; last error ${String(lastError)}` : ''}`,
  );
}

/** Feishu's stored instance compared to the expected payload, ignoring what the sync stage owns. */
export function comparable(p: Partial<ExternalInstance> | undefined): unknown {
  if (!p) return undefined;
  const { update_time: _u, update_mode: _m, i18n_resources, ...rest } = p as ExternalInstance;
  const texts = new Map<string, string>();
  for (const r of i18n_resources ?? []) if (r.is_default) for (const t of r.texts) texts.set(t.key, t.value);
  // Resolve i18n keys so that key naming does not matter, only the texts users see.
  return JSON.parse(JSON.stringify(rest), (_k, v: unknown) =>
    typeof v === 'string' && texts.has(v) ? `=${texts.get(v)}` : v,
  );
}

/** Waits until Feishu holds exactly the expected instances (others must be DELETED). */
/**
 * Waits until the connector has settled: no instance dirty (parked ones aside) and no push in flight.
 * Feishu matches the database (waitForConvergence) a moment before the connector records the push
 * that made it match; a test that marks instances for another push must start after that record, or
 * the push still in flight answers its mark (the same payload, accepted after it: nothing new to
 * push), as resync-selection.test.ts once found.
 */
export async function waitForSettled(fx: ConnectorFixture, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await fx.state.query<{ n: number }>(
        `select count(*)::int as n from "${fx.settings.stateSchema}".instance
         where version > synced_version and parked_at is null`,
      );
      return rows[0]?.n === 0 && (fx.pipeline?.sync?.inFlightExternalIds.length ?? 0) === 0;
    },
    timeoutMs,
    'the connector to push or skip every dirty instance',
  );
}

export async function waitForConvergence(fx: ConnectorFixture, timeoutMs = 30_000): Promise<void> {
  let diff = '';
  try {
    await waitFor(
      async () => {
        const expected = await fx.expectedInstances();
        const problems: string[] = [];
        for (const [id, payload] of expected) {
          const stored = fx.fake.instance(id);
          if (JSON.stringify(comparable(stored)) !== JSON.stringify(comparable(payload))) {
            problems.push(
              `${id}: expected ${JSON.stringify(comparable(payload))}\n   got ${JSON.stringify(comparable(stored))}`,
            );
          }
        }
        for (const stored of fx.fake.instances()) {
          if (!expected.has(stored.instance_id) && stored.status !== 'DELETED')
            problems.push(`${stored.instance_id}: should be DELETED, is ${stored.status}`);
        }
        diff = problems.slice(0, 3).join('\n');
        return problems.length === 0;
      },
      timeoutMs,
      'Feishu to match the database',
    );
  } catch (error) {
    throw new Error(`${String(error)}\n${diff}`);
  }
}
