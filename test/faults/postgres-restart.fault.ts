// Fault: the legacy Postgres (here also the state database) is shut down (fast shutdown) and started
// again on the same data directory, twice, while the workload runs. The connector loses its lock
// connection and exits by design; its supervisor restarts it until Postgres is back. Checks:
// Feishu converges to the database, accepted pushes never go back in update_time per instance, and the
// slot's confirmed position never passes the stored checkpoint.
import { expect, it, describe } from 'vitest';
import { faultLine, sleep } from './support/fault-line.js';
import { faultScenario } from './support/fault-scenario.js';
import { startRestartablePostgres, type RestartablePostgres } from './support/restartable-postgres.js';

describe('fault: Postgres restarted mid-stream', () => {
  let cluster: RestartablePostgres;
  const scenario = faultScenario(
    async () => {
      cluster = await startRestartablePostgres();
      return { adminUrl: cluster.url };
    },
    () => cluster?.destroy(),
  );

  it('converges after two restarts under load, in order, never acking ahead of the replica', async () => {
    const downtimes: number[] = [];
    const r = await scenario.run(
      { seed: 11, connector: { restartDelayMs: 1000 }, convergeMs: 120_000 },
      async () => {
        for (let round = 0; round < 2; round++) {
          const down = Date.now();
          await cluster.stop();
          await sleep(4000);
          await cluster.start();
          downtimes.push(Date.now() - down);
          await sleep(7000);
        }
      },
    );
    expect(r.ack.samples).toBeGreaterThan(50);
    expect(r.order.instances).toBeGreaterThan(10);
    faultLine(
      'postgres-restart',
      `2 fast shutdowns + restarts of the source/state cluster (${downtimes.map((d) => `${(d / 1000).toFixed(1)}s`).join(', ')} down) under a random workload; connector supervised as a child process`,
      'Feishu == database, update_time per instance never back, confirmed_flush_lsn <= checkpoint',
      {
        instances: scenario.fx.fake.instances().length,
        workloadTx: r.workload.steps + 20,
        workloadErrors: r.workload.errors,
        pushesAccepted: r.order.accepted,
        pushAttempts: r.order.attempts,
        connectorStarts: r.conn.starts,
        connectorSelfExits: r.conn.selfExits.length,
        ackSamples: r.ack.samples,
        failedSamples: r.ack.failedSamples,
        maxLagBytes: r.ack.maxLagBytes,
        settle: r.settle,
        duration: r.duration(),
      },
    );
  });
});
