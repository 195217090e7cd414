// The fault suite's variant of test/support/connector-fixture.ts (built on it, so waitForConvergence
// works unchanged), but it can target any Postgres server (the suite's own
// restartable cluster, or the shared test server), keep the state database in a second database,
// and route the connector's source and state URLs through proxies. The connector usually runs as a
// child process (connector-process.ts) with the env this fixture derives from its settings.
import { inject } from 'vitest';
import type { SettingKey } from '../../../src/config/settings.js';
import type { FakeFeishuOptions } from '../../../src/feishu/fake/fake-feishu.js';
import {
  settingsEnv,
  startConnectorFixture,
  type ConnectorFixture,
} from '../../support/connector-fixture.js';
import { createDatabaseOn } from '../../support/test-database.js';
import { startAckSampler, type AckSampler } from './invariants.js';

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
  /** Samples the slot's confirmed position against the stored checkpoint (directly, not through proxies). */
  startAckSampler(intervalMs?: number): AckSampler;
}

export async function startFaultFixture(options: FaultFixtureOptions = {}): Promise<FaultFixture> {
  const adminUrl = options.adminUrl ?? inject('adminUrl');
  const db = await createDatabaseOn(adminUrl, 'fault');
  const stateDb = options.separateStateDb ? await createDatabaseOn(adminUrl, 'fstate') : null;
  const directStateUrl = stateDb?.url ?? db.url;
  const fixture = await startConnectorFixture({
    database: db,
    noPipeline: true,
    ...(options.fake ? { fake: options.fake } : {}),
    settings: {
      sourceUrl: options.sourceVia ? options.sourceVia(db.url) : db.url,
      stateUrl: options.stateVia ? options.stateVia(directStateUrl) : directStateUrl,
      silenceTimeoutMs: 15_000,
      logLevel: process.env.TEST_LOG_LEVEL ?? 'warn',
      ...options.settings,
    },
    afterClose: async () => {
      await stateDb?.drop().catch(() => undefined);
    },
  });
  return Object.assign(fixture, {
    directSourceUrl: db.url,
    directStateUrl,
    connectorEnv: (extra: Record<string, string> = {}) => settingsEnv(fixture.settings, extra),
    startAckSampler: (intervalMs?: number) =>
      startAckSampler({
        sourceUrl: db.url,
        stateUrl: directStateUrl,
        slot: fixture.settings.slotName,
        schema: fixture.settings.stateSchema,
        ...(intervalMs === undefined ? {} : { intervalMs }),
      }),
  });
}
