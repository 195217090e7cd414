// budget-efficiency: how much of Feishu's budget goes to pushes users can see. Method: Pipeline
// in-process with its default sync settings against the fake Feishu at the real limits; --instances
// requests (2 steps and a CC each) are created and synced; then --rounds rounds, --gap-ms apart,
// each of: no-op rewrites of every mapped table (`set col = col`), edits of unmapped columns
// (steps.opinion, users.display_name), a change of every fourth request's updated_at alone (only
// update_time differs), and --real real changes (new titles of distinct requests, never the same
// one twice). Counts, from the fake's log, the accepted pushes after the first round and the
// accepted pushes that changed nothing but update_time (the fake compares with what it held).
import type { BenchFn } from './run.js';
import { startBenchDatabase } from './support/bench-db.js';
import { log, numFlag, round, sleep } from './support/bench-env.js';
import { benchSettings, loadBenchMappings, startFake, startPipeline } from './support/bench-pipeline.js';
import { insertBlockSql } from './support/bulk-workload.js';

export const run: BenchFn = async (flags, cleanup) => {
  const instances = numFlag(flags, 'instances', 500);
  const rounds = numFlag(flags, 'rounds', 5);
  const real = numFlag(flags, 'real', 40);
  const gapMs = numFlag(flags, 'gap-ms', 3000);

  const db = await startBenchDatabase(cleanup);
  const fake = await startFake(cleanup, { perSecond: 50, perMinute: 1000 });
  const settings = benchSettings(db, fake);
  const mappings = await loadBenchMappings(settings);
  const pipeline = await startPipeline(cleanup, settings, mappings);

  for (const statement of insertBlockSql()) await db.pool.query(statement, [1, instances]);
  const deadline = Date.now() + 120_000;
  while (fake.instances().length < instances && Date.now() < deadline) await sleep(250);
  if (fake.instances().length < instances) throw new Error('the requests never all reached Feishu');
  await sleep(2000);
  log(
    `${instances} instances in Feishu; ${rounds} rounds of rewrites, unmapped edits and ${real} real changes`,
  );

  const t0 = Date.now();
  const identicalBefore = fake.counters.identicalPushes;
  const rowsRewritten = { noop: 0, unmapped: 0, updateTimeOnly: 0 };
  const count = async (sql: string, params: unknown[] = []) =>
    (await db.pool.query(sql, params)).rowCount ?? 0;
  for (let r = 0; r < rounds; r++) {
    rowsRewritten.noop += await count(`update oa.requests set title = title, status_code = status_code`);
    rowsRewritten.noop += await count(`update oa.steps set state_code = state_code, updated_at = updated_at`);
    rowsRewritten.noop += await count(`update oa.cc set read_flag = read_flag`);
    rowsRewritten.noop += await count(`update oa.users set feishu_uid = feishu_uid`);
    rowsRewritten.unmapped += await count(`update oa.steps set opinion = 'round ' || $1::text`, [r]);
    rowsRewritten.unmapped += await count(`update oa.users set display_name = display_name || '.'`);
    rowsRewritten.updateTimeOnly += await count(
      `update oa.requests set updated_at = updated_at + interval '1 second' where req_id % 4 = 0`,
    );
    for (let i = 0; i < real; i++) {
      const req = 1 + ((r * real + i) % instances);
      await db.pool.query(`update oa.requests set title = $2 where req_id = $1`, [
        req,
        `round ${r} change ${i}`,
      ]);
    }
    await sleep(gapMs);
  }
  // Wait for the real changes to land, then for anything still queued.
  const wanted = rounds * real;
  const settle = Date.now() + 60_000;
  const accepted = () => fake.pushes().filter((p) => p.accepted && p.at >= t0).length;
  while (accepted() < wanted && Date.now() < settle) await sleep(250);
  await sleep(5000);
  const titles = await db.pool.query<{ n: number }>(
    `select count(*)::int as n from oa.requests where title like 'round %'`,
  );
  const metrics = await pipeline.metrics.registry.getSingleMetricAsString(
    'approval_cdc_unchanged_payloads_total',
  );
  const unchanged = Number(/\s(\d+)\s*$/.exec(metrics.trim())?.[1] ?? 0);
  const pushes = accepted();
  return {
    instances,
    rounds,
    realChanges: wanted,
    distinctRequestsChanged: titles.rows[0]?.n ?? 0,
    rowsRewrittenNoop: rowsRewritten.noop,
    rowsEditedUnmapped: rowsRewritten.unmapped,
    rowsUpdateTimeOnly: rowsRewritten.updateTimeOnly,
    pushesAccepted: pushes,
    pushesPerRealChange: round(pushes / wanted, 3),
    identicalRepushes: fake.counters.identicalPushes - identicalBefore,
    syncedWithoutPush: unchanged,
    tooManyRequests429: fake.counters.tooManyRequests,
    target: { pushesPerRealChange: 1.05, identicalRepushes: 0 },
    server: db.server,
  };
};
