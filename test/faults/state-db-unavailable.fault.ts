// Fault: the state database (a database of its own here, reached through a TCP proxy) becomes
// unreachable for ~10 s under load, twice. The connector holds its active lock on that database, so
// it is expected to stop when the lock's connection breaks (by design: two connectors must never
// run one slot) and to come back through its supervisor once the database answers again. Checks:
// convergence, order per instance, the slot's confirmed position never passes the checkpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { waitForConvergence } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { startConnectorProcess, type ConnectorProcess } from './support/connector-process.js';
import { startFaultFixture, type FaultFixture } from './support/fault-fixture.js';
import { faultLine, seconds, sleep } from './support/fault-line.js';
import { startWorkload } from './support/fault-workload.js';
import { checkPushOrder } from './support/invariants.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

describe('fault: the state database unavailable for a while', () => {
  let proxy: TcpProxy;
  let fx: FaultFixture;
  let conn: ConnectorProcess | undefined;

  beforeAll(async () => {
    proxy = await startTcpProxy(Number(new URL(inject('adminUrl')).port));
    fx = await startFaultFixture({ separateStateDb: true, stateVia: (url) => proxy.via(url) });
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await conn?.stop();
    await fx?.close();
    await proxy?.close();
  });

  it('resumes after the state database comes back and converges', async () => {
    const started = Date.now();
    const sampler = fx.startAckSampler();
    conn = startConnectorProcess({ env: fx.connectorEnv(), restartDelayMs: 1000 });
    const workload = startWorkload(fx.sql, { seed: 33 });
    await sleep(6000);
    const outage = 10;
    // Nothing can be stored while the state database is away, so nothing may be confirmed either
    // (reported; the sampler's check covers it, since it reads the checkpoint directly).
    let confirmedDuringOutage = 0n;
    for (let round = 0; round < 2; round++) {
      const before = sampler.last?.confirmed ?? 0n;
      proxy.cut();
      await sleep(outage * 1000);
      const after = sampler.last?.confirmed ?? 0n;
      if (after - before > confirmedDuringOutage) confirmedDuringOutage = after - before;
      proxy.restore();
      await sleep(8000);
    }
    await workload.stop();
    await workload.burst(20);
    const settleFrom = Date.now();
    await waitForConvergence(fx, 120_000);
    const settle = seconds(settleFrom);
    const ack = await sampler.stop();
    const order = checkPushOrder(fx.fake.pushes());

    expect(ack.violations).toEqual([]);
    expect(order.regressions).toEqual([]);
    expect(proxy.stats.destroyed).toBeGreaterThan(0);
    faultLine(
      'state-db-unavailable',
      `2 outages of ${outage}s of the separate state database (TCP proxy RST + refuse) under load; connector supervised as a child process`,
      'Feishu == database, update_time per instance never back, confirmed_flush_lsn <= checkpoint (slot read directly from the source)',
      {
        instances: fx.fake.instances().length,
        workloadTx: workload.steps + 20,
        pushesAccepted: order.accepted,
        stateSocketsReset: proxy.stats.destroyed,
        stateConnectsRefused: proxy.stats.refused,
        connectorStarts: conn.starts,
        connectorSelfExits: `${conn.selfExits.length} (${[...new Set(conn.selfExits)].join('/') || 'none'})`,
        confirmedAdvanceWhileStateDown: confirmedDuringOutage,
        ackSamples: ack.samples,
        maxLagBytes: ack.maxLagBytes,
        settle,
        duration: seconds(started),
      },
    );
  });
});
