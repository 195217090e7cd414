// Fault: the state database (a database of its own here, reached through a TCP proxy) becomes
// unreachable for ~10 s under load, twice. The connector holds its active lock on that database, so
// it is expected to stop when the lock's connection breaks (by design: two connectors must never
// run one slot) and to come back through its supervisor once the database answers again. Checks:
// convergence, order per instance, the slot's confirmed position never passes the checkpoint.
import { describe, expect, inject, it } from 'vitest';
import { faultLine, sleep } from './support/fault-line.js';
import { faultScenario } from './support/fault-scenario.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

describe('fault: the state database unavailable for a while', () => {
  let proxy: TcpProxy;
  const scenario = faultScenario(
    async () => {
      proxy = await startTcpProxy(Number(new URL(inject('adminUrl')).port));
      return { separateStateDb: true, stateVia: (url: string) => proxy.via(url) };
    },
    () => proxy?.close(),
  );

  it('resumes after the state database comes back and converges', async () => {
    const outage = 10;
    // Nothing can be stored while the state database is away, so nothing may be confirmed either
    // (reported; the sampler's check covers it, since it reads the checkpoint directly).
    let confirmedDuringOutage = 0n;
    const r = await scenario.run(
      { seed: 33, connector: { restartDelayMs: 1000 }, convergeMs: 120_000 },
      async ({ sampler }) => {
        for (let round = 0; round < 2; round++) {
          const before = sampler.last?.confirmed ?? 0n;
          proxy.cut();
          await sleep(outage * 1000);
          const after = sampler.last?.confirmed ?? 0n;
          if (after - before > confirmedDuringOutage) confirmedDuringOutage = after - before;
          proxy.restore();
          await sleep(8000);
        }
      },
    );
    expect(proxy.stats.destroyed).toBeGreaterThan(0);
    faultLine(
      'state-db-unavailable',
      `2 outages of ${outage}s of the separate state database (TCP proxy RST + refuse) under load; connector supervised as a child process`,
      'Feishu == database, update_time per instance never back, confirmed_flush_lsn <= checkpoint (slot read directly from the source)',
      {
        instances: scenario.fx.fake.instances().length,
        workloadTx: r.workload.steps + 20,
        pushesAccepted: r.order.accepted,
        stateSocketsReset: proxy.stats.destroyed,
        stateConnectsRefused: proxy.stats.refused,
        connectorStarts: r.conn.starts,
        connectorSelfExits: `${r.conn.selfExits.length} (${[...new Set(r.conn.selfExits)].join('/') || 'none'})`,
        confirmedAdvanceWhileStateDown: confirmedDuringOutage,
        ackSamples: r.ack.samples,
        maxLagBytes: r.ack.maxLagBytes,
        settle: r.settle,
        duration: r.duration(),
      },
    );
  });
});
