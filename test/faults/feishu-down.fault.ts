// Fault: Feishu answers every call (the token endpoint included) with 503 for a long stretch under
// load: FAULT_FEISHU_DOWN_SECONDS, default 60 (a real outage lasts minutes; 60-120 s keeps the suite
// practical). The backlog must wait in the state database, not in WAL: the slot's confirmed position
// keeps advancing during the outage. Afterwards the backlog drains, Feishu equals the database, and no
// instance's accepted update_time goes back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { waitForConvergence } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { startConnectorProcess, type ConnectorProcess } from './support/connector-process.js';
import { startFaultFixture, type FaultFixture } from './support/fault-fixture.js';
import { faultLine, seconds, sleep } from './support/fault-line.js';
import { startWorkload } from './support/fault-workload.js';
import { checkPushOrder } from './support/invariants.js';

const DOWN_SECONDS = Number(process.env.FAULT_FEISHU_DOWN_SECONDS ?? 60);

describe('fault: Feishu down under load', () => {
  let fx: FaultFixture;
  let conn: ConnectorProcess | undefined;

  beforeAll(async () => {
    fx = await startFaultFixture();
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await conn?.stop();
    await fx?.close();
  });

  it('keeps confirming WAL while Feishu is down, then drains the backlog', async () => {
    const started = Date.now();
    const sampler = fx.startAckSampler();
    conn = startConnectorProcess({ env: fx.connectorEnv() });
    const workload = startWorkload(fx.sql, { seed: 44, pauseMs: 80 });
    await sleep(6000);

    fx.fake.faults.set({ down: true });
    const downAt = Date.now();
    const acceptedBefore = fx.fake.counters.pushesAccepted;
    await sleep(DOWN_SECONDS * 1000);
    const during = sampler.samplesSince(downAt + 3000);
    const first = during[0];
    const last = during.at(-1);
    const state = new pg.Client({ connectionString: fx.directStateUrl });
    await state.connect();
    const { rows } = await state.query<{ n: number }>(
      `select count(*)::int as n from "${fx.settings.stateSchema}".instance where version > synced_version`,
    );
    await state.end();
    const backlog = rows[0]?.n ?? 0;
    const acceptedDuring = fx.fake.counters.pushesAccepted - acceptedBefore;
    fx.fake.faults.set({ down: false });
    const upAt = Date.now();

    await workload.stop();
    await workload.burst(10);
    await waitForConvergence(fx, 180_000);
    const drain = seconds(upAt);
    const ack = await sampler.stop();
    const order = checkPushOrder(fx.fake.pushes());

    expect(first && last).toBeTruthy();
    const advanced = (last?.confirmed ?? 0n) - (first?.confirmed ?? 0n);
    expect(advanced).toBeGreaterThan(0n);
    expect(acceptedDuring).toBe(0);
    expect(backlog).toBeGreaterThan(0);
    expect(ack.violations).toEqual([]);
    expect(order.regressions).toEqual([]);
    faultLine(
      'feishu-down',
      `Feishu down (503 everywhere, token endpoint included) for ${DOWN_SECONDS}s (FAULT_FEISHU_DOWN_SECONDS) under a random workload`,
      'confirmed_flush_lsn advanced during the outage, backlog held in the state DB and drained after, Feishu == database, update_time never back, confirmed <= checkpoint',
      {
        instances: fx.fake.instances().length,
        workloadTx: workload.steps + 10,
        backlogAtEndOfOutage: backlog,
        confirmedAdvanceDuringOutageBytes: advanced,
        lagBytesAtEndOfOutage: last ? last.currentWal - last.confirmed : 'n/a',
        maxLagBytes: ack.maxLagBytes,
        rejectedAttempts: order.rejected,
        pushesAccepted: order.accepted,
        drainAfterRecovery: drain,
        duration: seconds(started),
      },
    );
  });
});
