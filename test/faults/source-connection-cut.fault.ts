// Fault: the network path between the connector and the legacy Postgres breaks (a TCP proxy resets
// every connection and refuses new ones for a while), three times under load. The state database
// stays reachable, so the connector is expected to survive in-process: the replication stream is
// rebuilt with backoff, the heartbeat and lag probe reconnect. Checks as everywhere: convergence,
// order per instance, ack never ahead of the checkpoint.
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

describe('fault: the connection to Postgres cut and restored', () => {
  let proxy: TcpProxy;
  let fx: FaultFixture;
  let conn: ConnectorProcess | undefined;

  beforeAll(async () => {
    proxy = await startTcpProxy(Number(new URL(inject('adminUrl')).port));
    fx = await startFaultFixture({ sourceVia: (url) => proxy.via(url) });
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await conn?.stop();
    await fx?.close();
    await proxy?.close();
  });

  it('rebuilds the stream after each cut and converges', async () => {
    const started = Date.now();
    const sampler = fx.startAckSampler();
    conn = startConnectorProcess({ env: fx.connectorEnv() });
    const workload = startWorkload(fx.sql, { seed: 22 });
    await sleep(6000);
    const cuts = [8, 3, 12];
    for (const s of cuts) {
      proxy.cut();
      await sleep(s * 1000);
      proxy.restore();
      await sleep(6000);
    }
    await workload.stop();
    await workload.burst(20);
    const settleFrom = Date.now();
    await waitForConvergence(fx, 90_000);
    const settle = seconds(settleFrom);
    const ack = await sampler.stop();
    const order = checkPushOrder(fx.fake.pushes());
    const reconnectLogs = conn.grep(/replication stream failed/).length;

    expect(ack.violations).toEqual([]);
    expect(order.regressions).toEqual([]);
    expect(proxy.stats.destroyed).toBeGreaterThan(0);
    expect(conn.selfExits).toEqual([]);
    faultLine(
      'source-connection-cut',
      `3 cuts of the connector's source connections via a TCP proxy (RST + refuse for ${cuts.join('s, ')}s) under load; state DB reachable`,
      'no connector exit, Feishu == database, update_time per instance never back, confirmed_flush_lsn <= checkpoint',
      {
        instances: fx.fake.instances().length,
        workloadTx: workload.steps + 20,
        pushesAccepted: order.accepted,
        socketsReset: proxy.stats.destroyed,
        connectionsRefused: proxy.stats.refused,
        streamFailuresLogged: reconnectLogs,
        connectorSelfExits: conn.selfExits.length,
        ackSamples: ack.samples,
        maxLagBytes: ack.maxLagBytes,
        settle,
        duration: seconds(started),
      },
    );
  });
});
