// Fault: Feishu answers every call (the token endpoint included) with 503 for a long stretch under
// load: FAULT_FEISHU_DOWN_SECONDS, default 60 (a real outage lasts minutes; 60-120 s keeps the suite
// practical). The backlog must wait in the state database, not in WAL: the slot's confirmed position
// keeps advancing during the outage. Afterwards the backlog drains, Feishu equals the database, and no
// instance's accepted update_time goes back.
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { faultLine, seconds, sleep } from './support/fault-line.js';
import { faultScenario } from './support/fault-scenario.js';
import type { AckSample } from './support/invariants.js';

const DOWN_SECONDS = Number(process.env.FAULT_FEISHU_DOWN_SECONDS ?? 60);

describe('fault: Feishu down under load', () => {
  const scenario = faultScenario();

  it('keeps confirming WAL while Feishu is down, then drains the backlog', async () => {
    const fx = scenario.fx;
    let during: AckSample[] = [];
    let backlog = 0;
    let acceptedDuring = 0;
    let upAt = 0;
    const r = await scenario.run(
      { seed: 44, pauseMs: 80, burst: 10, convergeMs: 180_000 },
      async ({ sampler }) => {
        fx.fake.faults.set({ down: true });
        const downAt = Date.now();
        const acceptedBefore = fx.fake.counters.pushesAccepted;
        await sleep(DOWN_SECONDS * 1000);
        during = sampler.samplesSince(downAt + 3000);
        const state = new pg.Client({ connectionString: fx.directStateUrl });
        await state.connect();
        const { rows } = await state.query<{ n: number }>(
          `select count(*)::int as n from "${fx.settings.stateSchema}".instance where version > synced_version`,
        );
        await state.end();
        backlog = rows[0]?.n ?? 0;
        acceptedDuring = fx.fake.counters.pushesAccepted - acceptedBefore;
        fx.fake.faults.set({ down: false });
        upAt = Date.now();
      },
    );
    const drain = seconds(upAt);
    const first = during[0];
    const last = during.at(-1);

    expect(first && last).toBeTruthy();
    const advanced = (last?.confirmed ?? 0n) - (first?.confirmed ?? 0n);
    expect(advanced).toBeGreaterThan(0n);
    expect(acceptedDuring).toBe(0);
    expect(backlog).toBeGreaterThan(0);
    faultLine(
      'feishu-down',
      `Feishu down (503 everywhere, token endpoint included) for ${DOWN_SECONDS}s (FAULT_FEISHU_DOWN_SECONDS) under a random workload`,
      'confirmed_flush_lsn advanced during the outage, backlog held in the state DB and drained after, Feishu == database, update_time never back, confirmed <= checkpoint',
      {
        instances: fx.fake.instances().length,
        workloadTx: r.workload.steps + 10,
        backlogAtEndOfOutage: backlog,
        confirmedAdvanceDuringOutageBytes: advanced,
        lagBytesAtEndOfOutage: last ? last.currentWal - last.confirmed : 'n/a',
        maxLagBytes: r.ack.maxLagBytes,
        rejectedAttempts: r.order.rejected,
        pushesAccepted: r.order.accepted,
        drainAfterRecovery: drain,
        duration: r.duration(),
      },
    );
  });
});
