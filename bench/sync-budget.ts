// sync-budget: does the sync stage spend Feishu's whole budget without provoking 429s, and do live
// changes overtake a backfill? Method: --backlog requests (with steps and a CC) are written BEFORE the
// first start, so the initial snapshot copy puts them in the backfill lane; Pipeline in-process with
// its default sync settings against the fake Feishu at the real limits (50/s, 1000/min); during
// --minutes one live change every --live-interval-ms (alternately a new request and an update of a
// backlog request). Pushes per minute are counted from the fake's log over the full minutes after the
// first (which the per-second window lets run faster); utilisation = that / 1000. The live changes'
// commit-to-acceptance seconds are matched as in `latency`. --jitter-ms adds random fake latency.
// Bulk (issue 21): once streaming, ONE source transaction changes --bulk instances (default 20,000):
// --bulk-kind update (default) is a data fix, an UPDATE of the title of --bulk requests that existed
// before the first start; insert writes --bulk new requests with 2 steps and a CC each (4 rows each).
// The connector puts them in the bulk lane (APPROVAL_CDC_BULK_THRESHOLD). The live changes start right
// after its COMMIT returns (so the first ones queue behind the stream's ingest of the transaction), a
// third of them updates of bulk requests still waiting (a small change promotes one to the live lane).
// Where each live change waited: commit -> decoded (this process read its commit from the stream) ->
// replica (its batch committed in the state database) -> accepted by the fake, from the Pipeline's
// onBatchApplied hook and the WAL position read just before each COMMIT. The state store is the
// default embedded one (--state source: the bench database, as before it). Last line, JSON: live p50 /
// p99 (target p99 <= 2 s), bulk-lane pushes per full minute (the bulk lane draining at the budget,
// minus what live changes take), 429s.
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
import { openBenchState, stateModeOf } from './support/bench-state.js';

const PER_MINUTE = 1000;

interface AppliedBatch {
  endLsn: bigint;
  decodedAt: number;
  appliedAt: number;
}

/** The first batch that ends past `lsnBefore` (the WAL position before a COMMIT): it holds that commit. */
function batchOf(batches: readonly AppliedBatch[], lsnBefore: bigint): AppliedBatch | undefined {
  return batches.find((b) => b.endLsn > lsnBefore);
}

export const run: BenchFn = async (flags, cleanup) => {
  const minutes = numFlag(flags, 'minutes', 3);
  const backlog = numFlag(flags, 'backlog', 5000);
  const liveEveryMs = numFlag(flags, 'live-interval-ms', 2000);
  const bulk = numFlag(flags, 'bulk', 20_000);
  const bulkKind = flags['bulk-kind'] ?? 'update';
  if (bulkKind !== 'update' && bulkKind !== 'insert') throw new Error('--bulk-kind is update or insert');

  const db = await startBenchDatabase(cleanup);
  const state = await openBenchState(cleanup, db, stateModeOf(flags.state));
  const backlogFirst = 1_000_000;
  const bulkFirst = 5_000_000;
  await bulkWorkload(db.pool, {
    rows: backlog * 4,
    txRows: 4000,
    insertOnly: true,
    firstReq: backlogFirst,
    label: 'backlog',
  });
  if (bulk > 0 && bulkKind === 'update') {
    // The requests the data fix will rewrite: in the replica (and the backfill lane) before it.
    await bulkWorkload(db.pool, {
      rows: bulk * 4,
      txRows: 4000,
      insertOnly: true,
      firstReq: bulkFirst,
      label: 'requests the data fix rewrites',
    });
  }
  // --jitter-ms N: the fake answers after a random 0..N ms (network jitter) and counts the call in its
  // rate windows then, as a real gateway sees calls later and unevenly after the client granted them.
  const jitterMs = flags['jitter-ms'] === undefined ? 0 : numFlag(flags, 'jitter-ms', 0);
  const fake = await startFake(cleanup, {
    perSecond: 50,
    perMinute: PER_MINUTE,
    ...(jitterMs > 0 ? { faults: { latencyMs: [0, jitterMs] } } : {}),
  });
  const settings = benchSettings(db, fake, state.overrides);
  const mappings = await loadBenchMappings(settings);
  log(
    `${backlog + (bulkKind === 'update' ? bulk : 0)} requests written before the first start; starting the connector (snapshot copy -> backfill lane; state: ${state.mode})`,
  );
  const batches: AppliedBatch[] = [];
  // Large batches (the bulk transaction's), to see how its ingest proceeds.
  const large: { changes: number; appliedAt: number }[] = [];
  const started = Date.now();
  await startPipeline(cleanup, settings, mappings, undefined, {
    onBatchApplied: (batch, appliedAt) => {
      if (batch.changes.length >= 500) large.push({ changes: batch.changes.length, appliedAt });
      if (batch.endLsn !== null)
        batches.push({ endLsn: batch.endLsn, decodedAt: batch.decodedAt ?? appliedAt, appliedAt });
    },
  });
  log(
    `streaming after ${((Date.now() - started) / 1000).toFixed(1)} s; live change every ${liveEveryMs} ms for ${minutes} min`,
  );

  let bulkCommit: { committedAt: number; lsnBefore: bigint } | null = null;
  if (bulk > 0) {
    const begun = Date.now();
    if (bulkKind === 'insert') {
      await bulkWorkload(db.pool, {
        rows: bulk * 4,
        txRows: bulk * 4,
        insertOnly: true,
        firstReq: bulkFirst,
        label: 'bulk transaction',
      });
      const { rows } = await db.pool.query<{ lsn: string }>(
        `select (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text as lsn`,
      );
      // Only an upper bound here (bulkWorkload commits inside): the next batch past the commit.
      bulkCommit = { committedAt: Date.now(), lsnBefore: BigInt(rows[0]?.lsn ?? '0') - 1n };
    } else {
      const client = await db.pool.connect();
      try {
        await client.query('begin');
        const { rowCount } = await client.query(
          `update oa.requests set title = title || ' (fixed)', updated_at = updated_at + interval '1 minute'
           where req_id between $1 and $2`,
          [bulkFirst, bulkFirst + bulk - 1],
        );
        if (rowCount !== bulk) throw new Error(`the data fix updated ${rowCount} requests, not ${bulk}`);
        const { rows } = await client.query<{ lsn: string }>(
          `select (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text as lsn`,
        );
        await client.query('commit');
        bulkCommit = { committedAt: Date.now(), lsnBefore: BigInt(rows[0]?.lsn ?? '0') };
      } finally {
        client.release();
      }
    }
    log(
      `one transaction (${bulkKind}) of ${bulk} requests committed in ${((Date.now() - begun) / 1000).toFixed(1)} s; live changes start now`,
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
  // Where each live change waited (seconds): commit -> decoded -> in the replica -> accepted.
  const stages = { toDecoded: [] as number[], toReplica: [] as number[], toAccepted: [] as number[] };
  for (const m of live.matched) {
    const b = batchOf(batches, m.change.lsnBefore);
    if (!b) continue;
    const acceptedAt = m.change.committedAt + m.seconds * 1000;
    stages.toDecoded.push(Math.max(0, b.decodedAt - m.change.committedAt) / 1000);
    stages.toReplica.push(Math.max(0, b.appliedAt - b.decodedAt) / 1000);
    stages.toAccepted.push(Math.max(0, acceptedAt - b.appliedAt) / 1000);
  }
  const bulkBatch = bulkCommit ? batchOf(batches, bulkCommit.lsnBefore) : undefined;
  const { rows: left } = await state.pool.query<{ lane: number; n: string }>(
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
    liveUpdatesOfBacklog: summarize(
      live.matched
        .filter((m) => m.change.kind === 'update' && !isBulk(m.change.instanceId))
        .map((m) => m.seconds),
    ),
    liveUpdatesOfBulk: summarize(
      live.matched
        .filter((m) => m.change.kind === 'update' && isBulk(m.change.instanceId))
        .map((m) => m.seconds),
    ),
    liveWaitedSeconds: {
      commitToDecoded: summarize(stages.toDecoded),
      decodedToReplica: summarize(stages.toReplica),
      replicaToAccepted: summarize(stages.toAccepted),
    },
    // The five slowest live changes, with their stages (the first ones after the bulk commit).
    liveSlowest: live.matched
      .map((m) => ({ m, b: batchOf(batches, m.change.lsnBefore) }))
      .sort((x, y) => y.m.seconds - x.m.seconds)
      .slice(0, 5)
      .map(({ m, b }) => ({
        kind: m.change.kind,
        afterBulkCommitSeconds: bulkCommit
          ? round((m.change.committedAt - bulkCommit.committedAt) / 1000)
          : null,
        seconds: round(m.seconds),
        decoded: b ? round((b.decodedAt - m.change.committedAt) / 1000) : null,
        replica: b ? round((b.appliedAt - m.change.committedAt) / 1000) : null,
      })),
    bulkKind,
    bulkInstances: bulk,
    // From the bulk COMMIT to the batch holding it committed in the replica (decoded: read from the stream).
    bulkDecodedSeconds:
      bulkCommit && bulkBatch ? round((bulkBatch.decodedAt - bulkCommit.committedAt) / 1000) : null,
    bulkInReplicaSeconds:
      bulkCommit && bulkBatch ? round((bulkBatch.appliedAt - bulkCommit.committedAt) / 1000) : null,
    // Each large batch after the bulk COMMIT: changes, and seconds from the COMMIT to its write.
    bulkBatches: bulkCommit
      ? large
          .filter((b) => b.appliedAt >= (bulkCommit?.committedAt ?? 0))
          .slice(0, 50)
          .map((b) => [b.changes, round((b.appliedAt - (bulkCommit?.committedAt ?? 0)) / 1000, 2)])
      : [],
    bulkPushesPerFullMinute: bulkFullMinutes,
    bulkPushesPerMinute:
      bulkFullMinutes.length > 0
        ? round(bulkFullMinutes.reduce((a, b) => a + b, 0) / bulkFullMinutes.length, 1)
        : null,
    bulkAccepted: new Set(accepted.filter((p) => isBulk(p.instance_id)).map((p) => p.instance_id)).size,
    backfillAccepted: new Set(accepted.filter((p) => isBackfill(p.instance_id)).map((p) => p.instance_id))
      .size,
    targetLiveP99Seconds: 2,
    backlogLeftByLane: Object.fromEntries(left.map((r) => [laneName(r.lane), Number(r.n)])),
    state: state.mode,
    server: db.server,
  };
};
