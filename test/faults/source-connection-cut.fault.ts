// Fault: the network path between the connector and the legacy Postgres breaks (a TCP proxy resets
// every connection and refuses new ones for a while), three times under load. The state database
// stays reachable, so the connector is expected to survive in-process: the replication stream is
// rebuilt with backoff, the heartbeat and lag probe reconnect. Checks as everywhere: convergence,
// order per instance, ack never ahead of the checkpoint.
import { describe, expect, inject, it } from 'vitest';
import { faultLine, sleep } from './support/fault-line.js';
import { faultScenario } from './support/fault-scenario.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

describe('fault: the connection to Postgres cut and restored', () => {
  let proxy: TcpProxy;
  const scenario = faultScenario(
    async () => {
      proxy = await startTcpProxy(Number(new URL(inject('adminUrl')).port));
      return { sourceVia: (url: string) => proxy.via(url) };
    },
    () => proxy?.close(),
  );

  it('rebuilds the stream after each cut and converges', async () => {
    const cuts = [8, 3, 12];
    const r = await scenario.run({ seed: 22, convergeMs: 90_000 }, async () => {
      for (const s of cuts) {
        proxy.cut();
        await sleep(s * 1000);
        proxy.restore();
        await sleep(6000);
      }
    });
    const reconnectLogs = r.conn.grep(/replication stream failed/).length;
    expect(proxy.stats.destroyed).toBeGreaterThan(0);
    expect(r.conn.selfExits).toEqual([]);
    faultLine(
      'source-connection-cut',
      `3 cuts of the connector's source connections via a TCP proxy (RST + refuse for ${cuts.join('s, ')}s) under load; state DB reachable`,
      'no connector exit, Feishu == database, update_time per instance never back, confirmed_flush_lsn <= checkpoint',
      {
        instances: scenario.fx.fake.instances().length,
        workloadTx: r.workload.steps + 20,
        pushesAccepted: r.order.accepted,
        socketsReset: proxy.stats.destroyed,
        connectionsRefused: proxy.stats.refused,
        streamFailuresLogged: reconnectLogs,
        connectorSelfExits: r.conn.selfExits.length,
        ackSamples: r.ack.samples,
        maxLagBytes: r.ack.maxLagBytes,
        settle: r.settle,
        duration: r.duration(),
      },
    );
  });
});
