// coalescing: how many pushes a burst of changes costs, and whether Feishu ends up right. Method:
// Pipeline in-process with its default sync settings (50/s, 1000/min, minPushIntervalMs 1000) against
// the fake Feishu at the real limits; --instances requests are created and synced; then --updates
// rounds, spread evenly over --window-seconds, each updating every instance once (4 sessions in
// parallel). Counts the fake's accepted pushes per instance from the first round on, then waits until
// the fake's stored instances equal what the mapping builds from the live database (the e2e
// fixture's `comparable`), and reports how long after the last commit that took.
import type { BenchFn } from './run.js';
import { comparable } from '../test/support/connector-fixture.js';
import { startBenchDatabase } from './support/bench-db.js';
import { log, numFlag, round, sleep } from './support/bench-env.js';
import {
  benchSettings,
  expectedInstances,
  loadBenchMappings,
  startFake,
  startPipeline,
  waitForAcceptances,
} from './support/bench-pipeline.js';
import { TrackedChanges } from './support/bulk-workload.js';

export const run: BenchFn = async (flags, cleanup) => {
  const instances = numFlag(flags, 'instances', 50);
  const updates = numFlag(flags, 'updates', 100);
  const windowSeconds = numFlag(flags, 'window-seconds', 10);

  const db = await startBenchDatabase(cleanup);
  const fake = await startFake(cleanup, { perSecond: 50, perMinute: 1000 });
  const settings = benchSettings(db, fake);
  const mappings = await loadBenchMappings(settings);
  await startPipeline(cleanup, settings, mappings);

  const firstReq = 1;
  const tracked = new TrackedChanges(db.pool, firstReq);
  for (let i = 0; i < instances; i++) await tracked.newRequest();
  const warm = await waitForAcceptances(fake, tracked.changes, 60_000);
  if (warm.unmatched.length > 0) throw new Error(`${warm.unmatched.length} requests never reached Feishu`);
  const ids = new Set(tracked.changes.map((c) => c.instanceId));
  log(`${instances} instances in Feishu; ${updates} updates to each within ${windowSeconds} s`);

  const t0 = Date.now();
  const lanes = 4;
  let late = 0;
  for (let r = 0; r < updates; r++) {
    const due = t0 + (r * windowSeconds * 1000) / updates;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    else late++;
    const reqs = Array.from({ length: instances }, (_, i) => firstReq + i);
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        for (let i = lane; i < reqs.length; i += lanes)
          await tracked.updateRequest(reqs[i] as number, r === updates - 1 && i % 2 === 0);
      }),
    );
  }
  const lastCommit = Date.now();
  const writeSeconds = (lastCommit - t0) / 1000;
  log(
    `${instances * updates} updates committed in ${writeSeconds.toFixed(1)} s; waiting until Feishu equals the database`,
  );

  const expected = await expectedInstances(db.pool, mappings);
  let convergedAt: number | null = null;
  let mismatched = 0;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    mismatched = 0;
    for (const [id, payload] of expected) {
      if (JSON.stringify(comparable(fake.instance(id))) !== JSON.stringify(comparable(payload))) mismatched++;
    }
    if (mismatched === 0) {
      convergedAt = Date.now();
      break;
    }
    await sleep(200);
  }
  // Let anything still queued arrive before counting (there should be nothing).
  await sleep(3000);
  const pushes = fake
    .pushes()
    .filter((p) => p.at >= t0 && p.instance_id !== undefined && ids.has(p.instance_id));
  const perInstance = new Map<string, number>();
  for (const p of pushes)
    if (p.accepted && p.instance_id)
      perInstance.set(p.instance_id, (perInstance.get(p.instance_id) ?? 0) + 1);
  const counts = [...ids].map((id) => perInstance.get(id) ?? 0);
  const accepted = counts.reduce((a, b) => a + b, 0);
  return {
    instances,
    updatesPerInstance: updates,
    updates: instances * updates,
    writeSeconds: round(writeSeconds, 1),
    roundsLate: late,
    pushesPerInstanceMean: round(accepted / instances, 2),
    pushesPerInstanceMax: Math.max(...counts),
    pushesPerInstanceMin: Math.min(...counts),
    pushesAccepted: accepted,
    pushesRejected: pushes.filter((p) => !p.accepted).length,
    updatesPerPush: round((instances * updates) / Math.max(1, accepted), 1),
    tooManyRequests429: fake.counters.tooManyRequests,
    finalStateMatchesDatabase: convergedAt !== null,
    mismatchedInstances: mismatched,
    convergedSecondsAfterLastCommit:
      convergedAt === null ? null : round((convergedAt - lastCommit) / 1000, 2),
    settings: {
      minPushIntervalMs: settings.minPushIntervalMs,
      ratePerSecond: settings.ratePerSecond,
      ratePerMinute: settings.ratePerMinute,
    },
    server: db.server,
  };
};
