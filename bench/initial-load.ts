// initial-load: the first start on a populated legacy database. Method: --rows rows across the mapped
// tables (requests, two steps and a CC each) are written before the connector first starts; the
// Pipeline starts in-process (its start() resolves once the snapshot copy is done and streaming
// begins), which times the copy into the replica (rows/s). Then, with the backfill lane holding an
// instance per request and the fake Feishu at the real limits (50/s, 1000/min), one live change every
// --live-interval-ms for --live-seconds; their commit-to-acceptance seconds are matched as in
// `latency`. Peak RSS of this whole process (connector + fake + bench) is sampled from /proc/self.
// The state store is the default embedded one (--state source: the legacy database, as before it);
// legacy_wal_bytes_per_row is the WAL the legacy server wrote during the copy (pg_current_wal_lsn
// before the start and once the copy is done) per copied row.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { embeddedUrl } from '../src/replica/embedded-state.js';
import { parseLsn } from '../src/core/lsn.js';
import type { BenchFn } from './run.js';
import { laneName } from '../src/replica/instance-vocabulary.js';
import { checkpointLsn, startBenchDatabase, walInsertLsn } from './support/bench-db.js';
import { RssSampler, log, numFlag, round, sleep, summarize } from './support/bench-env.js';
import {
  benchSettings,
  loadBenchMappings,
  startFake,
  startPipeline,
  waitForAcceptances,
} from './support/bench-pipeline.js';
import { TrackedChanges, bulkWorkload } from './support/bulk-workload.js';
import { seededRandom } from '../test/support/legacy-workload.js';

export const run: BenchFn = async (flags, cleanup) => {
  const rows = numFlag(flags, 'rows', 1_000_000);
  const liveSeconds = numFlag(flags, 'live-seconds', 60);
  const liveEveryMs = numFlag(flags, 'live-interval-ms', 1000);
  const stateIn = flags.state ?? 'embedded';
  if (stateIn !== 'embedded' && stateIn !== 'source')
    throw new Error(`--state ${String(stateIn)}: embedded or source`);

  const db = await startBenchDatabase(cleanup);
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
  await db.pool.query('vacuum analyze oa.requests, oa.steps, oa.cc');

  const fake = await startFake(cleanup, { perSecond: 50, perMinute: 1000 });
  const stateDir = await mkdtemp(join(tmpdir(), 'acs-bench-'));
  await chmod(stateDir, 0o755);
  cleanup.add('embedded state directory', () => rm(stateDir, { recursive: true, force: true }));
  const settings = benchSettings(db, fake, stateIn === 'embedded' ? { stateUrl: undefined, stateDir } : {});
  const mappings = await loadBenchMappings(settings);
  const rss = new RssSampler('self', 200).start();
  cleanup.add('RSS sampler', () => rss.stop());
  const rssBeforeMB = rss.peakMB;
  log(`starting the connector: snapshot copy (state: ${stateIn})`);
  const legacyWal = async () =>
    parseLsn(
      (await db.pool.query<{ l: string }>('select pg_current_wal_lsn()::text as l')).rows[0]?.l ?? '0/0',
    );
  const walBeforeCopy = await legacyWal();
  const c0 = Date.now();
  const pipeline = await startPipeline(cleanup, settings, mappings);
  const copySeconds = (Date.now() - c0) / 1000;
  const legacyWalBytes = Number((await legacyWal()) - walBeforeCopy);
  const statePool =
    stateIn === 'embedded' ? new pg.Pool({ connectionString: embeddedUrl(stateDir), max: 2 }) : db.pool;
  if (statePool !== db.pool) cleanup.add('state pool', () => statePool.end());
  const copyPeakMB = rss.peakMB;
  const copied = (await pipeline.metrics.snapshotRows.get()).values.reduce((a, v) => a + v.value, 0);
  log(
    `snapshot copy of ${copied} rows done in ${copySeconds.toFixed(1)} s; live changes during the backfill for ${liveSeconds} s`,
  );

  // With the state in the legacy database the copy's own writes are WAL the stream must read through
  // before it reaches the first live change; with the embedded store there is next to none.
  const walAtStart = await walInsertLsn(db.pool);
  const behindMB = round(Number(walAtStart - ((await checkpointLsn(statePool)) ?? walAtStart)) / 2 ** 20, 1);
  let caughtUpAt: number | null = null;
  const streamStart = Date.now();
  const checkCaughtUp = async () => {
    if (caughtUpAt === null && ((await checkpointLsn(statePool)) ?? 0n) >= walAtStart)
      caughtUpAt = Date.now();
  };

  const tracked = new TrackedChanges(db.pool, 1);
  const random = seededRandom(11);
  const t0 = Date.now();
  for (let i = 0; i * liveEveryMs < liveSeconds * 1000; i++) {
    const wait = t0 + i * liveEveryMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (i % 2 === 0) await tracked.newRequest();
    else await tracked.updateRequest(firstReq + Math.floor(random() * requests));
    await checkCaughtUp();
  }
  const live = await waitForAcceptances(fake, tracked.changes, 30_000);
  const s = summarize(live.seconds);
  const peakMB = rss.stop();
  const { rows: left } = await statePool.query<{ lane: number; n: string }>(
    `select lane, count(*)::text as n from approval_cdc.instance where version > synced_version group by lane order by lane`,
  );
  return {
    rows: data.rows,
    requests,
    rowsCopied: copied,
    copySeconds: round(copySeconds, 1),
    copyRowsPerSec: Math.round(copied / copySeconds),
    state: stateIn,
    legacy_wal_bytes_per_row: round(legacyWalBytes / copied, 1),
    legacyWalDuringCopyMB: round(legacyWalBytes / 2 ** 20, 1),
    rssBeforeStartMB: rssBeforeMB,
    peakRssDuringCopyMB: copyPeakMB,
    peakRssMB: peakMB,
    maxRssResourceUsageMB: round(process.resourceUsage().maxRSS / 1024, 1),
    rssNote: 'whole bench process: connector, fake Feishu and workload',
    walBehindAtStreamStartMB: behindMB,
    streamCaughtUpSeconds: caughtUpAt === null ? null : round((caughtUpAt - streamStart) / 1000, 1),
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
