// stop: seconds from SIGTERM to exit of `approval-cdc run` (a child process, as Docker or systemd
// would stop it) in four states: idle; with pushes in flight (Feishu answering slower than the
// request timeout); during a reconciler pass (check calls paced and slowed); during a paced backfill
// (1,000 instances at the default 1000/min). Targets: 2 s, the request timeout, 2 s, 2 s. Each state
// gets its own slot, publication and state schema on one database seeded with --requests requests.
// The state: `--state embedded` (default: an embedded state server in a temporary directory, kept up
// between the four connectors, so its own shutdown is not in the figures), `source` or `separate`.
// Never the working directory: a run without a state setting would leave approval-cdc-state/ in the
// checkout, and the CLI tests there would then read that store.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FakeFeishu } from '../src/feishu/fake/fake-feishu.js';
import { freePort } from '../src/demo/throwaway-postgres.js';
import type { BenchFn } from './run.js';
import { startBenchDatabase, type BenchDatabase } from './support/bench-db.js';
import { log, numFlag, round, sleep, type Cleanup } from './support/bench-env.js';
import { LOG_LEVEL, startFake } from './support/bench-pipeline.js';
import { openBenchState, stateModeOf, type BenchState } from './support/bench-state.js';

const BIN = fileURLToPath(new URL('../bin/approval-cdc.js', import.meta.url));
const REQUEST_TIMEOUT_MS = 3000;

interface Running {
  url: string;
  sigterm(): Promise<number>;
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function startConnector(
  cleanup: Cleanup,
  db: BenchDatabase,
  fake: FakeFeishu,
  state: BenchState,
  name: string,
  extra: Record<string, string>,
): Promise<Running> {
  const stateEnv: Record<string, string> =
    typeof state.overrides.stateDir === 'string'
      ? { APPROVAL_CDC_STATE_DIR: state.overrides.stateDir }
      : {
          APPROVAL_CDC_STATE_URL:
            typeof state.overrides.stateUrl === 'string' ? state.overrides.stateUrl : db.url,
        };
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'run'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      APPROVAL_CDC_SOURCE_URL: db.url,
      APPROVAL_CDC_SLOT: `stop_${name}`,
      APPROVAL_CDC_PUBLICATION: `stop_${name}`,
      APPROVAL_CDC_STATE_SCHEMA: `stop_${name}`,
      APPROVAL_CDC_FEISHU_URL: fake.url,
      APPROVAL_CDC_FEISHU_APP_ID: fake.appId,
      APPROVAL_CDC_FEISHU_APP_SECRET: fake.appSecret,
      APPROVAL_CDC_METRICS_ADDRESS: `127.0.0.1:${port}`,
      APPROVAL_CDC_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      APPROVAL_CDC_MIN_PUSH_INTERVAL_MS: '0',
      APPROVAL_CDC_LOG_LEVEL: LOG_LEVEL,
      ...stateEnv,
      ...extra,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      if (code !== 0) log(`connector ${name} exited with ${code ?? signal}`);
      resolve();
    }),
  );
  cleanup.add(`connector ${name}`, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(`connector ${name} ready`, async () => {
    if (child.exitCode !== null) throw new Error(`connector ${name} exited with ${child.exitCode}`);
    return (await fetch(`${url}/readyz`).catch(() => null))?.status === 200;
  });
  return {
    url,
    async sigterm() {
      const t0 = performance.now();
      child.kill('SIGTERM');
      await exited;
      return (performance.now() - t0) / 1000;
    },
  };
}

const accepted = (fake: FakeFeishu) => fake.counters.pushesAccepted;

export const run: BenchFn = async (flags, cleanup) => {
  const requests = numFlag(flags, 'requests', 1000);
  const db = await startBenchDatabase(cleanup);
  const state = await openBenchState(cleanup, db, stateModeOf(flags.state));
  await db.pool
    .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, reason, submitted_at, updated_at)
     select g, 1, 'Request ' || g, 1 + g % 20, 1, 'r', '2026-01-01'::timestamp + g * interval '1 minute', '2026-01-01'::timestamp + g * interval '1 minute'
     from generate_series(1, ${requests}) g`);
  const fake = await startFake(cleanup, { perSecond: 1_000_000, perMinute: 1_000_000_000 });
  const fast = { APPROVAL_CDC_RATE_PER_SECOND: '1000', APPROVAL_CDC_RATE_PER_MINUTE: '100000' };
  const synced = (n: number) => waitUntil(`${n} pushes accepted`, () => accepted(fake) >= n);

  log('idle: initial load done, nothing to push');
  let base = accepted(fake);
  const idle = await startConnector(cleanup, db, fake, state, 'idle', {
    ...fast,
    APPROVAL_CDC_RECONCILE_INTERVAL_MS: '0',
  });
  await synced(base + requests);
  await sleep(3000);
  const idleSeconds = await idle.sigterm();

  log(`pushes in flight: Feishu answers after 60 s, request timeout ${REQUEST_TIMEOUT_MS} ms`);
  base = accepted(fake);
  const busy = await startConnector(cleanup, db, fake, state, 'inflight', {
    ...fast,
    APPROVAL_CDC_RECONCILE_INTERVAL_MS: '0',
  });
  await synced(base + requests);
  fake.faults.set({ latencyMs: 60_000 });
  await db.pool.query(
    `update oa.requests set title = title || '!' , updated_at = updated_at + interval '1 second' where req_id <= 20`,
  );
  const requests0 = fake.counters.requests;
  await waitUntil('pushes in flight', () => fake.counters.requests >= requests0 + 5);
  await sleep(500);
  const inFlightSeconds = await busy.sigterm();
  fake.faults.clear();

  log('reconcile pass: check calls answered after 200 ms each, one after another');
  base = accepted(fake);
  const reconciling = await startConnector(cleanup, db, fake, state, 'reconcile', {
    ...fast,
    APPROVAL_CDC_RECONCILE_INTERVAL_MS: '4000',
    APPROVAL_CDC_RECONCILE_SHARE: '0.5',
  });
  await synced(base + requests);
  fake.faults.set({ latencyMs: 200 });
  const checks0 = fake.counters.checks;
  await waitUntil('a reconcile pass under way', () => fake.counters.checks >= checks0 + 5);
  const reconcileSeconds = await reconciling.sigterm();
  fake.faults.clear();

  log('backfill: the initial load paced at the default 1000/min');
  base = accepted(fake);
  const backfilling = await startConnector(cleanup, db, fake, state, 'backfill', {
    APPROVAL_CDC_RECONCILE_INTERVAL_MS: '0',
  });
  await synced(base + 60);
  const backfillSeconds = await backfilling.sigterm();
  const backfillLeft = requests - (accepted(fake) - base);

  log(
    `idle ${round(idleSeconds)} s, in flight ${round(inFlightSeconds)} s, reconcile ${round(reconcileSeconds)} s, backfill ${round(backfillSeconds)} s`,
  );
  return {
    idleSeconds: round(idleSeconds),
    inFlightSeconds: round(inFlightSeconds),
    reconcileSeconds: round(reconcileSeconds),
    backfillSeconds: round(backfillSeconds),
    backfillInstancesLeftAtStop: backfillLeft,
    requestTimeoutSeconds: REQUEST_TIMEOUT_MS / 1000,
    targets: { idle: 2, inFlight: REQUEST_TIMEOUT_MS / 1000, reconcile: 2, backfill: 2 },
    requests,
    state: state.mode,
  };
};
