// memory: peak RSS of the connector process alone while a large backlog builds up. Method: the
// connector runs as a child process (`node bin/approval-cdc.js run`, settings by APPROVAL_CDC_*
// variables) against the fake Feishu switched `down`, so nothing is accepted and every dirty instance
// stays in the state database; once it streams, --changes row changes are written as fast as one
// session can (transactions of --tx-rows, the first a single transaction of --big-tx-rows inserts);
// the child's VmRSS/VmHWM are read from /proc/<pid>/status every 200 ms until its checkpoint reaches
// the workload's end LSN. Reports the peak (target <= 200 MB) and the row changes applied per second.
import type { BenchFn } from './run.js';
import {
  LEGACY_MAPPINGS_PATH,
  checkpointLsn,
  startBenchDatabase,
  waitForCheckpoint,
  walInsertLsn,
} from './support/bench-db.js';
import { RssSampler, log, numFlag, readRss, round, sleep } from './support/bench-env.js';
import { spawnConnector, startFake } from './support/bench-pipeline.js';
import { bulkWorkload } from './support/bulk-workload.js';

export const run: BenchFn = async (flags, cleanup) => {
  // The connector runs as in production: compiled, launched as the image's ENTRYPOINT (spawnConnector).
  const changes = numFlag(flags, 'changes', 1_000_000);
  const txRows = numFlag(flags, 'tx-rows', 10_000);
  const bigTxRows = numFlag(flags, 'big-tx-rows', Math.min(200_000, changes / 2));

  const db = await startBenchDatabase(cleanup);
  const fake = await startFake(cleanup, { faults: { down: true } });
  const connector = spawnConnector(cleanup, {
    APPROVAL_CDC_SOURCE_URL: db.url,
    // The state in the bench database, as the checkpoint polling below expects.
    APPROVAL_CDC_STATE_URL: db.url,
    APPROVAL_CDC_MAPPINGS: LEGACY_MAPPINGS_PATH,
    APPROVAL_CDC_FEISHU_URL: fake.url,
    APPROVAL_CDC_FEISHU_APP_ID: fake.appId,
    APPROVAL_CDC_FEISHU_APP_SECRET: fake.appSecret,
    APPROVAL_CDC_METRICS_ADDRESS: 'off',
    APPROVAL_CDC_LOG_LEVEL: flags['log-level'] ?? 'error',
    APPROVAL_CDC_STATUS_INTERVAL_MS: '1000',
  });
  const sampler = new RssSampler(connector.pid, 200).start();
  cleanup.add('RSS sampler', () => sampler.stop());

  const ready = Date.now() + 120_000;
  while ((await checkpointLsn(db.pool)) === null) {
    if (connector.child.exitCode !== null)
      throw new Error(`connector exited ${connector.child.exitCode}:\n${connector.tail().join('\n')}`);
    if (Date.now() > ready) throw new Error('connector did not start streaming within 120 s');
    await sleep(200);
  }
  await sleep(2000);
  const idleRssMB = readRss(connector.pid)?.rssMB ?? Number.NaN;
  log(
    `connector (pid ${connector.pid}) streaming, RSS ${idleRssMB} MB; writing ${changes} row changes (first transaction ${bigTxRows} rows)`,
  );

  const w0 = Date.now();
  const workload = await bulkWorkload(db.pool, {
    rows: changes,
    txRows,
    bigTxRows,
    label: 'backlog workload',
  });
  const w1 = Date.now();
  const endLsn = await walInsertLsn(db.pool);
  log(`workload written in ${((w1 - w0) / 1000).toFixed(1)} s; RSS peak so far ${sampler.peakMB} MB`);
  const caughtUp = await waitForCheckpoint(db.pool, endLsn, {
    timeoutMs: 60 * 60_000,
    pollMs: 200,
    onPoll: () => {
      if (connector.child.exitCode !== null)
        throw new Error(`connector exited ${connector.child.exitCode}:\n${connector.tail().join('\n')}`);
    },
  });
  const peakRssMB = sampler.stop();
  const { rows: backlog } = await db.pool.query<{ n: string }>(
    `select count(*)::text as n from approval_cdc.instance where version > synced_version`,
  );
  const exitCode = await connector.stop();
  log(
    `caught up ${((caughtUp - w1) / 1000).toFixed(1)} s after the workload ended; peak RSS ${peakRssMB} MB`,
  );
  return {
    changes: workload.rows,
    transactions: workload.transactions,
    largestTransaction: workload.largestTransaction,
    idleRssMB,
    peakRssMB,
    targetPeakRssMB: 200,
    rssSamples: sampler.samples,
    workloadSeconds: round((w1 - w0) / 1000, 1),
    catchUpAfterWorkloadSeconds: round((caughtUp - w1) / 1000, 1),
    appliedChangesPerSec: Math.round(workload.rows / ((caughtUp - w0) / 1000)),
    backlogInstances: Number(backlog[0]?.n ?? 0),
    feishuRequestsRefused: fake.counters.requests,
    connectorExitCode: exitCode,
    server: db.server,
  };
};
