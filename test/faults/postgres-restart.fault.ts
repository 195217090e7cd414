// Fault: the legacy Postgres (here also the state database) is shut down (fast shutdown) and started
// again on the same data directory, twice, while the workload runs. The connector loses its lock
// connection and exits by design; its supervisor restarts it until Postgres is back. Checks:
// Feishu converges to the database, accepted pushes never go back in update_time per instance, and the
// slot's confirmed position never passes the stored checkpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForConvergence } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { startConnectorProcess, type ConnectorProcess } from './support/connector-process.js';
import { startFaultFixture, type FaultFixture } from './support/fault-fixture.js';
import { faultLine, seconds, sleep } from './support/fault-line.js';
import { startWorkload } from './support/fault-workload.js';
import { checkPushOrder } from './support/invariants.js';
import { startRestartablePostgres, type RestartablePostgres } from './support/restartable-postgres.js';

describe('fault: Postgres restarted mid-stream', () => {
  let cluster: RestartablePostgres;
  let fx: FaultFixture;
  let conn: ConnectorProcess | undefined;

  beforeAll(async () => {
    cluster = await startRestartablePostgres();
    fx = await startFaultFixture({ adminUrl: cluster.url });
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await conn?.stop();
    await fx?.close();
    await cluster?.destroy();
  });

  it('converges after two restarts under load, in order, never acking ahead of the replica', async () => {
    const started = Date.now();
    const sampler = fx.startAckSampler();
    conn = startConnectorProcess({ env: fx.connectorEnv(), restartDelayMs: 1000 });
    const workload = startWorkload(fx.sql, { seed: 11 });
    await sleep(6000);
    const downtimes: number[] = [];
    for (let round = 0; round < 2; round++) {
      const down = Date.now();
      await cluster.stop();
      await sleep(4000);
      await cluster.start();
      downtimes.push(Date.now() - down);
      await sleep(7000);
    }
    await workload.stop();
    await workload.burst(20);
    const settleFrom = Date.now();
    await waitForConvergence(fx, 120_000);
    const settle = seconds(settleFrom);
    const ack = await sampler.stop();
    const order = checkPushOrder(fx.fake.pushes());

    expect(ack.samples).toBeGreaterThan(50);
    expect(ack.violations).toEqual([]);
    expect(order.regressions).toEqual([]);
    expect(order.instances).toBeGreaterThan(10);
    faultLine(
      'postgres-restart',
      `2 fast shutdowns + restarts of the source/state cluster (${downtimes.map((d) => `${(d / 1000).toFixed(1)}s`).join(', ')} down) under a random workload; connector supervised as a child process`,
      'Feishu == database, update_time per instance never back, confirmed_flush_lsn <= checkpoint',
      {
        instances: fx.fake.instances().length,
        workloadTx: workload.steps + 20,
        workloadErrors: workload.errors,
        pushesAccepted: order.accepted,
        pushAttempts: order.attempts,
        connectorStarts: conn.starts,
        connectorSelfExits: conn.selfExits.length,
        ackSamples: ack.samples,
        failedSamples: ack.failedSamples,
        maxLagBytes: ack.maxLagBytes,
        settle,
        duration: seconds(started),
      },
    );
  });
});
