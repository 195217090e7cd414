// latency: seconds from a source COMMIT to Feishu's acceptance of the state it made, under a steady
// workload. Method: Pipeline in-process against the fake Feishu over HTTP with no effective rate
// limit (fake and client budgets huge, minPushIntervalMs 0); --instances pending requests are created
// and synced first; then --tps single-instance transactions per second for --seconds (a quarter new
// requests with steps and a CC, the rest updates of a random existing request), each with a unique
// later updated_at. The client time right after COMMIT returns is matched with the fake's log time of
// the first accepted push of that instance whose update_time is at least the committed one.
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
import { TrackedChanges } from './support/bulk-workload.js';
import { seededRandom } from '../test/support/legacy-workload.js';

export const run: BenchFn = async (flags, cleanup) => {
  const seconds = numFlag(flags, 'seconds', 60);
  const tps = numFlag(flags, 'tps', 20);
  const instances = numFlag(flags, 'instances', 200);

  const db = await startBenchDatabase(cleanup);
  const fake = await startFake(cleanup, { perSecond: 1_000_000, perMinute: 1_000_000_000 });
  const settings = benchSettings(db, fake, {
    minPushIntervalMs: 0,
    ratePerSecond: 1_000_000,
    ratePerMinute: 1_000_000_000,
    ...(flags['batch-wait-ms'] ? { batchMaxWaitMs: Number(flags['batch-wait-ms']) } : {}),
  });
  const mappings = await loadBenchMappings(settings);
  await startPipeline(cleanup, settings, mappings);

  const firstReq = 1;
  const tracked = new TrackedChanges(db.pool, firstReq);
  log(`creating ${instances} requests and waiting until Feishu has them`);
  for (let i = 0; i < instances; i++) await tracked.newRequest();
  const warm = await waitForAcceptances(fake, tracked.changes, 60_000);
  if (warm.unmatched.length > 0)
    throw new Error(`${warm.unmatched.length} warm-up requests never reached Feishu`);
  const warmup = tracked.changes.length;
  let known = instances;

  const random = seededRandom(42);
  const total = Math.round(seconds * tps);
  log(`steady workload: ${total} transactions at ${tps}/s`);
  const t0 = Date.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / tps;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    if (random() < 0.25) {
      await tracked.newRequest();
      known++;
    } else {
      await tracked.updateRequest(firstReq + Math.floor(random() * known), random() < 0.1);
    }
    if (i > 0 && i % (tps * 10) === 0) log(`${i} of ${total} transactions`);
  }
  const elapsed = (Date.now() - t0) / 1000;
  const measured = tracked.changes.slice(warmup);
  const result = await waitForAcceptances(fake, measured, 60_000);
  const s = summarize(result.seconds);
  const pushes = fake.pushes().filter((p) => p.at >= t0);
  return {
    transactions: measured.length,
    seconds: round(elapsed, 1),
    achievedTps: round(measured.length / elapsed, 1),
    accepted: result.seconds.length,
    unmatched: result.unmatched.length,
    p50Seconds: s.p50,
    p99Seconds: s.p99,
    maxSeconds: s.max,
    targets: { p50Seconds: 0.3, p99Seconds: 1 },
    pushes: pushes.length,
    pushesRejected: pushes.filter((p) => !p.accepted).length,
    settings: {
      batchMaxWaitMs: settings.batchMaxWaitMs,
      minPushIntervalMs: settings.minPushIntervalMs,
      syncConcurrency: settings.syncConcurrency,
    },
    server: db.server,
  };
};
