// initial-load: the first start on a populated legacy database. Method: --rows rows across the mapped
// tables (requests, two steps and a CC each) are written before the connector first starts, and
// `pg_dump --data-only` of the same tables into /dev/null is timed (the yardstick: the server's own
// COPY). The connector then runs as its own child process (`node bin/approval-cdc.js run`, the
// embedded state store), its VmHWM sampled from /proc every 200 ms; the copy is timed from the first
// table's start (its progress' startedAt) to the first poll (100 ms) that finds the checkpoint
// streaming. Then, with the backfill lane holding an instance per request and the fake Feishu at the
// real limits (50/s, 1000/min), one live change every --live-interval-ms for --live-seconds; their
// commit-to-acceptance seconds are matched as in `latency`.
// The legacy server: Debian's PostgreSQL 15 (--server pg15, the default when its binaries are
// there), so its pg_dump can dump it; --server throwaway runs the embedded Postgres 17 and reports no
// pg_dump figures (no pg_dump of that version on the machine).
// The connector runs as the image runs it (compiled, the Dockerfile ENTRYPOINT's node flags: see
// spawnConnector); the CPU seconds from its start to the copy's end (startup included) are split
// between it, the state server's processes and the legacy server's: where the copy's time went.
// instanceWritesPerInstance: the instance rows' mean version when the copy ends (1.0: each written once).
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { embeddedUrl } from '../src/replica/embedded-state.js';
import type { CopyProgress } from '../src/core/copy-progress.js';
import { parseLsn } from '../src/core/lsn.js';
import type { BenchFn } from './run.js';
import { laneName } from '../src/replica/instance-vocabulary.js';
import { LEGACY_MAPPINGS_PATH, startBenchDatabase } from './support/bench-db.js';
import { RssSampler, log, numFlag, round, sleep, summarize } from './support/bench-env.js';
import { connectorLaunch, spawnConnector, startFake, waitForAcceptances } from './support/bench-pipeline.js';
import { cpuSnapshot, cpuSplit, sampleCpu } from './support/process-cpu.js';
import { TrackedChanges, bulkWorkload } from './support/bulk-workload.js';
import {
  DEBIAN_PG15_BIN,
  debianPostgres15Available,
  startDebianPostgres15,
  timePgDump,
} from './support/debian-postgres.js';
import { seededRandom } from '../test/support/legacy-workload.js';

const TABLES = ['oa.requests', 'oa.steps', 'oa.cc', 'oa.users'];

export const run: BenchFn = async (flags, cleanup) => {
  const rows = numFlag(flags, 'rows', 1_000_000);
  const liveSeconds = numFlag(flags, 'live-seconds', 60);
  const liveEveryMs = numFlag(flags, 'live-interval-ms', 1000);
  const serverKind = flags.server ?? (debianPostgres15Available() ? 'pg15' : 'throwaway');
  if (serverKind !== 'pg15' && serverKind !== 'throwaway')
    throw new Error(`--server ${String(serverKind)}: pg15 or throwaway`);

  const benchSettings = { synchronous_commit: 'on', max_wal_size: '4GB', checkpoint_timeout: '15min' };
  let serverUrl: string | undefined;
  let legacyDataDir: string | undefined;
  if (serverKind === 'pg15') {
    log(`starting a throwaway PostgreSQL 15 from ${DEBIAN_PG15_BIN}`);
    const server = await startDebianPostgres15(benchSettings);
    cleanup.add('PostgreSQL 15', () => server.stop());
    serverUrl = server.url;
    legacyDataDir = server.dataDir;
  }
  const db = await startBenchDatabase(cleanup, benchSettings, serverUrl);
  const firstReq = 1_000_000;
  log(`writing ${rows} rows before the first start`);
  const w0 = Date.now();
  const data = await bulkWorkload(db.pool, {
    rows,
    txRows: 20_000,
    insertOnly: true,
    firstReq,
    label: 'initial data',
  });
  const requests = data.nextReq - firstReq;
  log(`${data.rows} rows (${requests} requests) written in ${((Date.now() - w0) / 1000).toFixed(1)} s`);
  await db.pool.query('vacuum analyze oa.requests, oa.steps, oa.cc, oa.users');
  const { rows: counted } = await db.pool.query<{ n: string }>(
    `select (select count(*) from oa.requests) + (select count(*) from oa.steps) + (select count(*) from oa.cc) + (select count(*) from oa.users) as n`,
  );
  const sourceRows = Number(counted[0]?.n ?? 0);

  let pgDumpSeconds: number | null = null;
  if (serverKind === 'pg15') {
    log('pg_dump --data-only of the same tables into /dev/null');
    pgDumpSeconds = await timePgDump(db.url, TABLES);
    log(`pg_dump: ${sourceRows} rows in ${pgDumpSeconds.toFixed(1)} s`);
  }

  const fake = await startFake(cleanup, { perSecond: 50, perMinute: 1000 });
  const stateDir = await mkdtemp(join(tmpdir(), 'acs-bench-'));
  await chmod(stateDir, 0o755);
  // --keep-state: the state server's directory (and its postgres.log, e.g. with PGOPTIONS='-c
  // log_min_duration_statement=0') is left for inspection.
  if (flags['keep-state'] === undefined)
    cleanup.add('embedded state directory', () => rm(stateDir, { recursive: true, force: true }));
  else log(`the state directory is kept: ${stateDir}`);
  const selfRss = new RssSampler('self', 200).start();
  cleanup.add('RSS sampler (bench)', () => selfRss.stop());
  // The WAL the legacy server writes during the copy, per copied row (issue 13: the state store is
  // kept out of the legacy database, so next to none).
  const legacyWal = async () =>
    parseLsn(
      (await db.pool.query<{ l: string }>('select pg_current_wal_lsn()::text as l')).rows[0]?.l ?? '0/0',
    );
  const walBeforeCopy = await legacyWal();
  log('starting the connector as a child process: snapshot copy (state: embedded)');
  const connector = spawnConnector(cleanup, {
    APPROVAL_CDC_SOURCE_URL: db.url,
    APPROVAL_CDC_STATE_DIR: stateDir,
    APPROVAL_CDC_MAPPINGS: LEGACY_MAPPINGS_PATH,
    APPROVAL_CDC_FEISHU_URL: fake.url,
    APPROVAL_CDC_FEISHU_APP_ID: fake.appId,
    APPROVAL_CDC_FEISHU_APP_SECRET: fake.appSecret,
    APPROVAL_CDC_METRICS_ADDRESS: 'off',
    APPROVAL_CDC_LOG_LEVEL: flags['log-level'] ?? 'warn',
    ...(flags.concurrency ? { APPROVAL_CDC_SNAPSHOT_CONCURRENCY: flags.concurrency } : {}),
  });
  const rss = new RssSampler(connector.pid, 200).start();
  const servers = { state: join(stateDir, 'data'), source: legacyDataDir ?? db.dataDir };
  const cpu0 = cpuSnapshot(servers, connector.pid);
  const cpu = sampleCpu(servers, 200, connector.pid);
  cleanup.add('RSS sampler (connector)', () => rss.stop());

  const state = new pg.Pool({ connectionString: embeddedUrl(stateDir), max: 2 });
  state.on('error', () => undefined);
  cleanup.add('state pool', () => state.end());
  type Row = { phase: string; snapshot_progress: CopyProgress | null };
  let progress: CopyProgress = {};
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    if (connector.child.exitCode !== null)
      throw new Error(`connector exited ${connector.child.exitCode}:\n${connector.tail().join('\n')}`);
    if (Date.now() > deadline) throw new Error('the copy did not end within 30 min');
    const r = await state
      .query<Row>(`select phase, snapshot_progress from approval_cdc.checkpoint`)
      .catch(() => ({ rows: [] as Row[] }));
    if (r.rows[0]?.snapshot_progress) progress = r.rows[0].snapshot_progress;
    if (r.rows[0]?.phase === 'streaming') break;
    await sleep(100);
  }
  const copyEnd = Date.now();
  const copyCpu = cpuSplit(cpu0, cpu.stop());
  const legacyWalBytes = Number((await legacyWal()) - walBeforeCopy);
  // Each write of an instance row adds one to its version: 1.0 when every instance was written once
  // (its instance row first, its children then finding it dirty), 2.0 when each was written twice.
  const { rows: writes } = await state.query<{ n: string; v: string }>(
    `select count(*)::text as n, coalesce(sum(version), 0)::text as v from approval_cdc.instance`,
  );
  const instanceWritesPerInstance = round(
    Number(writes[0]?.v ?? 0) / Math.max(1, Number(writes[0]?.n ?? 0)),
    2,
  );
  const starts = Object.values(progress).map((p) => (p.startedAt ? Date.parse(p.startedAt) : copyEnd));
  const copySeconds = (copyEnd - Math.min(...starts)) / 1000;
  const copied = Object.values(progress).reduce((n, p) => n + p.rows, 0);
  rss.sample();
  const copyPeakMB = rss.peakMB;
  const copyRowsPerSec = Math.round(copied / copySeconds);
  const pgDumpRowsPerSec = pgDumpSeconds === null ? null : Math.round(sourceRows / pgDumpSeconds);
  log(
    `snapshot copy of ${copied} rows in ${copySeconds.toFixed(1)} s (${copyRowsPerSec}/s, pg_dump ${pgDumpRowsPerSec ?? '-'}/s); live changes during the backfill for ${liveSeconds} s`,
  );

  const tracked = new TrackedChanges(db.pool, 1);
  const random = seededRandom(11);
  const t0 = Date.now();
  for (let i = 0; i * liveEveryMs < liveSeconds * 1000; i++) {
    const wait = t0 + i * liveEveryMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (i % 2 === 0) await tracked.newRequest();
    else await tracked.updateRequest(firstReq + Math.floor(random() * requests));
  }
  const live = await waitForAcceptances(fake, tracked.changes, 30_000);
  const s = summarize(live.seconds);
  const peakMB = rss.stop();
  const { rows: left } = await state.query<{ lane: number; n: string }>(
    `select lane, count(*)::text as n from approval_cdc.instance where version > synced_version group by lane order by lane`,
  );
  return {
    rows: data.rows,
    requests,
    sourceRows,
    rowsCopied: copied,
    copySeconds: round(copySeconds, 1),
    copyRowsPerSec,
    instanceWritesPerInstance,
    pgDumpSeconds: pgDumpSeconds === null ? null : round(pgDumpSeconds, 1),
    pgDumpRowsPerSec,
    ratioToPgDump: pgDumpRowsPerSec === null ? null : round(copyRowsPerSec / pgDumpRowsPerSec, 2),
    legacyServer: serverKind === 'pg15' ? 'Debian PostgreSQL 15' : 'embedded PostgreSQL 17',
    state: 'embedded',
    legacy_wal_bytes_per_row: round(legacyWalBytes / Math.max(1, copied), 1),
    connectorPeakRssDuringCopyMB: copyPeakMB,
    connectorPeakRssMB: peakMB,
    benchPeakRssMB: selfRss.stop(),
    rssNote: 'connector: the `run` child process alone (VmHWM); bench: this process with the fake Feishu',
    connectorLaunch: connectorLaunch(),
    copyCpuSeconds: copyCpu,
    liveChanges: tracked.changes.length,
    liveUnmatched: live.unmatched.length,
    liveP50Seconds: s.p50,
    liveP99Seconds: s.p99,
    liveMaxSeconds: s.max,
    pushesAccepted: fake.counters.pushesAccepted,
    tooManyRequests429: fake.counters.tooManyRequests,
    backlogLeftByLane: Object.fromEntries(left.map((r) => [laneName(r.lane), Number(r.n)])),
    server: db.server,
  };
};
