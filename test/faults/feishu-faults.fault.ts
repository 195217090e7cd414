// Faults on the Feishu side, for the sync stage:
// 1. rotating faults under load: HTTP 503s, code 1395001 ("retry later"), connection resets, latency
//    and token expiry every few seconds; the final state must be right, no instance lost, no accepted
//    update_time going back per instance (from the fake's push log);
// 2. the same kind of faults (errorRate 0.2, resetRate 0.1, latency, token expiry) while the connector
//    process is killed with SIGKILL again and again; same checks plus ack <= checkpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForConvergence } from '../support/connector-fixture.js';
import { seededRandom, seedUsers } from '../support/legacy-workload.js';
import { startConnectorProcess, type ConnectorProcess } from './support/connector-process.js';
import { startFaultFixture, type FaultFixture } from './support/fault-fixture.js';
import { faultLine, seconds, sleep } from './support/fault-line.js';
import { startWorkload } from './support/fault-workload.js';
import { checkPushOrder } from './support/invariants.js';

describe('fault: Feishu errors, resets, latency and token expiry', () => {
  let fx: FaultFixture;
  let conn: ConnectorProcess | undefined;
  let expiring: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    fx = await startFaultFixture();
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    if (expiring) clearInterval(expiring);
    await conn?.stop();
    await fx?.close();
  });

  it('sync stage: 5xx, 1395001, resets, latency and token expiry end in the right state', async () => {
    const started = Date.now();
    const sampler = fx.startAckSampler();
    conn = startConnectorProcess({ env: fx.connectorEnv() });
    const workload = startWorkload(fx.sql, { seed: 88, pauseMs: 60 });
    fx.fake.faults.set({ seed: 7, latencyMs: [20, 300] });
    expiring = setInterval(() => fx.fake.faults.expireTokens(), 3000);
    const phases = [
      { errorRate: 0.3, error: {} },
      { errorRate: 0.3, error: { code: 1395001, msg: 'retry later' } },
      { errorRate: 0, resetRate: 0.25 },
      { errorRate: 0.15, resetRate: 0.1, error: { status: 502 } },
    ];
    for (const phase of phases) {
      fx.fake.faults.set({ resetRate: 0, ...phase });
      await sleep(8000);
    }
    await workload.stop();
    fx.fake.faults.clear();
    clearInterval(expiring);
    await waitForConvergence(fx, 120_000);
    const ack = await sampler.stop();
    const order = checkPushOrder(fx.fake.pushes());
    const c = fx.fake.counters;
    expect(order.regressions).toEqual([]);
    expect(ack.violations).toEqual([]);
    expect(c.injectedErrors).toBeGreaterThan(0);
    expect(c.injectedResets).toBeGreaterThan(0);
    faultLine(
      'feishu-faults',
      'rotating Feishu faults under load, 8s each: 30% 503, 30% code 1395001, 25% resets, 15% 502 + 10% resets; latency 20-300ms and all tokens expired every 3s throughout',
      'Feishu == database, no instance lost, update_time of accepted pushes never back per instance, confirmed <= checkpoint',
      {
        instances: fx.fake.instances().length,
        workloadTx: workload.steps,
        pushAttempts: order.attempts,
        pushesAccepted: order.accepted,
        injectedErrors: c.injectedErrors,
        injectedResets: c.injectedResets,
        invalidTokenAnswers: c.invalidToken,
        tokensIssued: c.tokensIssued,
        duration: seconds(started),
      },
    );
  });

  it('survives repeated SIGKILL of the connector under Feishu faults', async () => {
    const started = Date.now();
    await conn?.stop();
    const sampler = fx.startAckSampler(20);
    fx.fake.faults.set({ seed: 9, errorRate: 0.2, resetRate: 0.1, latencyMs: [10, 200], error: {} });
    expiring = setInterval(() => fx.fake.faults.expireTokens(), 3000);
    const random = seededRandom(20261126);
    const killer = startConnectorProcess({
      env: fx.connectorEnv({ APPROVAL_CDC_BATCH_MAX_CHANGES: '50', APPROVAL_CDC_STATUS_INTERVAL_MS: '100' }),
      supervise: true,
    });
    conn = killer;
    const workload = startWorkload(fx.sql, { seed: 89, start: 20000, pauseMs: 20 });
    const kills = 6;
    for (let i = 0; i < kills; i++) {
      await sleep(1500 + random() * 2500);
      await killer.kill('SIGKILL');
      killer.start();
    }
    await sleep(3000);
    await workload.stop();
    await workload.burst(20);
    fx.fake.faults.clear();
    clearInterval(expiring);
    await waitForConvergence(fx, 120_000);
    const ack = await sampler.stop();
    const order = checkPushOrder(fx.fake.pushes());
    expect(ack.samples).toBeGreaterThan(50);
    expect(ack.violations).toEqual([]);
    expect(order.regressions).toEqual([]);
    faultLine(
      'sigkill-under-feishu-faults',
      `${kills} SIGKILLs of the connector child process 1.5-4s apart under load, Feishu with 20% 503 + 10% resets + 10-200ms latency + token expiry every 3s`,
      'Feishu == database, update_time of accepted pushes never back per instance (whole log, both tests), confirmed_flush_lsn <= checkpoint sampled every 20ms',
      {
        kills: killer.kills,
        connectorStarts: killer.starts,
        instances: fx.fake.instances().length,
        workloadTx: workload.steps + 20,
        pushesAccepted: order.accepted,
        pushAttempts: order.attempts,
        ackSamples: ack.samples,
        maxLagBytes: ack.maxLagBytes,
        duration: seconds(started),
      },
    );
  });
});
