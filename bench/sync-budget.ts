// sync-budget: does the sync stage spend Feishu's whole budget without provoking 429s, and do live
// changes overtake a backfill? Method: --backlog requests (with steps and a CC) are written BEFORE the
// first start, so the initial snapshot copy puts them in the backfill lane; Pipeline in-process with
// its default sync settings against the fake Feishu at the real limits (50/s, 1000/min); during
// --minutes one live change every --live-interval-ms (alternately a new request and an update of a
// backlog request). Pushes per minute are counted from the fake's log over the full minutes after the
// first (which the per-second window lets run faster); utilisation = that / 1000. The live changes'
// commit-to-acceptance seconds are matched as in `latency`. --jitter-ms adds random fake latency.
// Bulk (issue 21): once streaming, ONE source transaction inserts --bulk requests (default 20,000,
// 4 rows each), which the connector puts in the bulk lane (APPROVAL_CDC_BULK_THRESHOLD); the live
// changes start right after its commit, a third of them updates of bulk requests still waiting (a
// small change promotes one to the live lane). Figures: live p99 (target <= 2 s) and the bulk pushes
// per full minute (the bulk lane draining at the budget, minus what live changes take).
import type { BenchFn } from './run.js';
import { startBenchDatabase } from './support/bench-db.js';
import { log, numFlag, round, sleep, summarize } from './support/bench-env.js';
import {
  benchSettings,
  loadBenchMappings,
  startFake,
  startPipeline,
  waitForAcceptances,
} from './support/bench-pipeline.js';
import { TrackedChanges, bulkWorkload } from './support/bulk-workload.js';
import { seededRandom } from '../test/support/legacy-workload.js';
import { laneName } from '../src/replica/instance-vocabulary.js';

const PER_MINUTE = 1000;

export const run: BenchFn = async (flags, cleanup) => {
  const minutes = numFlag(flags, 'minutes', 3);
  const backlog = numFlag(flags, 'backlog', 5000);
  const liveEveryMs = numFlag(flags, 'live-interval-ms', 2000);
  const bulk = numFlag(flags, 'bulk', 20_000);

  const db = await startBenchDatabase(cleanup);
  const backlogFirst = 1_000_000;
  await bulkWorkload(db.pool, {
    rows: backlog * 4,
    txRows: 4000,
    insertOnly: true,
    firstReq: backlogFirst,
    label: 'backlog',
  });
  // --jitter-ms N: the fake answers after a random 0..N ms (network jitter) and counts the call in its
  // rate windows then, as a real gateway sees calls later and unevenly after the client granted them.
  const jitterMs = flags['jitter-ms'] === undefined ? 0 : numFlag(flags, 'jitter-ms', 0);
  const fake = await startFake(cleanup, {
    perSecond: 50,
    perMinute: PER_MINUTE,
    ...(jitterMs > 0 ? { faults: { latencyMs: [0, jitterMs] } } : {}),
  });
  const settings = benchSettings(db, fake);
  const mappings = await loadBenchMappings(settings);
  log(
    `${backlog} requests written before the first start; starting the connector (snapshot copy -> backfill lane)`,
  );
  const started = Date.now();
  await startPipeline(cleanup, settings, mappings);
  log(
    `streaming after ${((Date.now() - started) / 1000).toFixed(1)} s; live change every ${liveEveryMs} ms for ${minutes} min`,
  );

  const bulkFirst = 5_000_000;
  let bulkAppliedSeconds = Number.NaN;
  if (bulk > 0) {
    const begun = Date.now();
    await bulkWorkload(db.pool, {
      rows: bulk * 4,
      txRows: bulk * 4,
      insertOnly: true,
      firstReq: bulkFirst,
      label: 'bulk transaction',
    });
    log(`one transaction of ${bulk} requests committed in ${((Date.now() - begun) / 1000).toFixed(1)} s`);
    // Live changes committed while the stream still reads the transaction's 80,000 rows wait for that
    // (ingest, not the budget): they start once the replica's checkpoint is past its commit.
    const { rows: wal } = await db.pool.query<{ lsn: string }>(
      `select (pg_current_wal_lsn() - '0/0'::pg_lsn)::text as lsn`,
    );
    const commitLsn = BigInt(wal[0]?.lsn ?? '0');
    const until = Date.now() + 300_000;
    for (;;) {
      const { rows } = await db.pool.query<{ lsn: string }>(
        `select max(lsn)::text as lsn from approval_cdc.checkpoint`,
      );
      if (BigInt(rows[0]?.lsn ?? '0') >= commitLsn || Date.now() > until) break;
      await sleep(100);
    }
    bulkAppliedSeconds = round((Date.now() - begun) / 1000);
    log(
      `bulk transaction in the replica after ${bulkAppliedSeconds} s (checkpoint past its commit); live changes start now`,
    );
  }
  const reqOf = (id: string | undefined) => Number((id ?? '').replace('oa-req-', ''));
  const isBulk = (id: string | undefined) => reqOf(id) >= bulkFirst && reqOf(id) < bulkFirst + bulk;
  const isBackfill = (id: string | undefined) =>
    reqOf(id) >= backlogFirst && reqOf(id) < backlogFirst + backlog;

  const tracked = new TrackedChanges(db.pool, 1);
  const random = seededRandom(7);
  // The run lasts --minutes from the first accepted push, so minutes 2..N are all full minutes.
  const runMs = minutes * 60_000 + 1000;
  const t0 = Date.now();
  const firstAccepted = () => fake.pushes().find((p) => p.accepted)?.at ?? t0;
  for (let i = 0; ; i++) {
    const due = t0 + i * liveEveryMs;
    if (due >= firstAccepted() + runMs) break;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const kind = bulk > 0 ? i % 3 : i % 2;
    if (kind === 0) await tracked.newRequest();
    else if (kind === 1) await tracked.updateRequest(backlogFirst + Math.floor(random() * backlog));
    else await tracked.updateRequest(bulkFirst + Math.floor(random() * bulk));
    if (i > 0 && (i * liveEveryMs) % 30_000 < liveEveryMs) {
      const n = fake.counters.pushesAccepted;
      log(
        `${Math.round((Date.now() - t0) / 1000)} s: ${n} pushes accepted, ${fake.counters.tooManyRequests} 429s`,
      );
    }
  }
  // Minutes are counted from the first accepted push, which may come a little after t0.
  const rest = firstAccepted() + minutes * 60_000 + 500 - Date.now();
  if (rest > 0) await sleep(rest);
  const end = Date.now();
  const live = await waitForAcceptances(fake, tracked.changes, 30_000);

  const accepted = fake.pushes().filter((p) => p.accepted);
  const firstPush = accepted[0]?.at ?? started;
  const fullMinutes: number[] = [];
  const bulkFullMinutes: number[] = [];
  for (let k = 1; firstPush + (k + 1) * 60_000 <= end; k++) {
    const from = firstPush + k * 60_000;
    const minute = accepted.filter((p) => p.at >= from && p.at < from + 60_000);
    fullMinutes.push(minute.length);
    bulkFullMinutes.push(minute.filter((p) => isBulk(p.instance_id)).length);
  }
  const firstMinute = accepted.filter((p) => p.at < firstPush + 60_000).length;
  const perMinute =
    fullMinutes.length > 0 ? fullMinutes.reduce((a, b) => a + b, 0) / fullMinutes.length : Number.NaN;
  const s = summarize(live.seconds);
  const byKind = (kind: string) =>
    summarize(live.matched.filter((m) => m.change.kind === kind).map((m) => m.seconds));
  const { rows: left } = await db.pool.query<{ lane: number; n: string }>(
    `select lane, count(*)::text as n from approval_cdc.instance where version > synced_version group by lane order by lane`,
  );
  return {
    minutes,
    backlogInstances: backlog,
    fakeJitterMs: jitterMs,
    pushesFirstMinute: firstMinute,
    pushesPerFullMinute: fullMinutes,
    pushesPerMinute: round(perMinute, 1),
    budgetUtilisation: round(perMinute / PER_MINUTE),
    targetUtilisation: 0.97,
    tooManyRequests429: fake.counters.tooManyRequests,
    pushesRejected: fake.counters.pushesRejected,
    liveChanges: tracked.changes.length,
    liveUnmatched: live.unmatched.length,
    liveP50Seconds: s.p50,
    liveP99Seconds: s.p99,
    liveMaxSeconds: s.max,
    liveNewRequests: byKind('new'),
    liveUpdatesOfBacklog: byKind('update'),
    bulkInstances: bulk,
    bulkAppliedSeconds,
    bulkPushesPerFullMinute: bulkFullMinutes,
    bulkAccepted: new Set(accepted.filter((p) => isBulk(p.instance_id)).map((p) => p.instance_id)).size,
    backfillAccepted: new Set(accepted.filter((p) => isBackfill(p.instance_id)).map((p) => p.instance_id))
      .size,
    targetLiveP99Seconds: 2,
    backlogLeftByLane: Object.fromEntries(left.map((r) => [laneName(r.lane), Number(r.n)])),
    server: db.server,
  };
};
