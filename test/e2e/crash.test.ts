import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLsn } from '../../src/core/lsn.js';
import {
  startConnectorFixture,
  waitForConvergence,
  type ConnectorFixture,
  settingsEnv,
} from '../support/connector-fixture.js';
import { newWorkloadState, seededRandom, seedUsers, workloadStep } from '../support/legacy-workload.js';
import { cliEntry } from '../support/cli-entry.js';

/** The bundled CLI (test/support/cli-entry.ts): the same commands, a third of tsx's start-up CPU. */
const BIN = cliEntry();

describe('a connector killed with SIGKILL again and again', () => {
  let fx: ConnectorFixture;
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    fx = await startConnectorFixture({ noPipeline: true });
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await fx?.close();
  });

  const env = () => ({
    ...settingsEnv(fx.settings),
    APPROVAL_CDC_METRICS_ADDRESS: 'off',
    APPROVAL_CDC_MIN_PUSH_INTERVAL_MS: '0',
    APPROVAL_CDC_BATCH_MAX_WAIT_MS: '5',
    APPROVAL_CDC_BATCH_MAX_CHANGES: '50',
    APPROVAL_CDC_STATUS_INTERVAL_MS: '100',
    APPROVAL_CDC_HEARTBEAT_INTERVAL_MS: '300',
    APPROVAL_CDC_STANDBY: 'true',
    APPROVAL_CDC_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
  });
  const startChild = () => {
    child = spawn(process.execPath, [BIN, 'run'], { env: env(), stdio: ['ignore', 'inherit', 'inherit'] });
  };
  /** Exit codes of connectors that ended by themselves (none may: each one is killed). */
  const selfExits: (number | string | null)[] = [];
  const stopChild = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c) return;
    // A child that already exited would never emit 'exit' again: waiting for it would hang the test.
    if (c.exitCode !== null || c.signalCode !== null) {
      selfExits.push(c.exitCode ?? c.signalCode);
      return;
    }
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
  };

  it('ends with Feishu equal to the database, update_time never going back, and no ack ahead of the replica', async () => {
    const random = seededRandom(20261125);
    const state = newWorkloadState(1);
    const clock = { minute: 0 };
    const violations: string[] = [];
    let sampling = true;
    let samples = 0;
    // Confirmed position first, checkpoint second: the checkpoint only grows, so a later read can
    // only make the comparison easier, never hide a real violation.
    // A checkpoint still 'creating' holds no position yet: its slot exists, its snapshot is not recorded.
    const sampler = (async () => {
      while (sampling) {
        const slot = await fx.sql.query(
          `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1`,
          [fx.settings.slotName],
        );
        const cp = await fx.state
          .query(`select lsn::text from approval_cdc.checkpoint where slot = $1 and phase <> 'creating'`, [
            fx.settings.slotName,
          ])
          .catch(() => ({ rows: [] }));
        const confirmed = slot.rows[0]?.lsn ? parseLsn(slot.rows[0].lsn) : null;
        const checkpoint = cp.rows[0]?.lsn ? BigInt(cp.rows[0].lsn) : null;
        if (confirmed !== null && checkpoint !== null) {
          samples++;
          if (confirmed > checkpoint) violations.push(`confirmed ${confirmed} > checkpoint ${checkpoint}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    startChild();
    const kills = 8;
    for (let round = 0; round < kills; round++) {
      const until = Date.now() + 700 + random() * 1500;
      while (Date.now() < until) {
        await workloadStep(fx.sql, state, random, clock);
        await new Promise((r) => setTimeout(r, 15));
      }
      await stopChild('SIGKILL');
      startChild();
    }
    for (let i = 0; i < 30; i++) await workloadStep(fx.sql, state, random, clock);

    try {
      await waitForConvergence(fx, 90_000);
    } finally {
      sampling = false;
      await sampler;
    }
    await stopChild('SIGTERM');
    expect(selfExits).toEqual([]);

    expect(samples).toBeGreaterThan(50);
    expect(violations).toEqual([]);
    const last = new Map<string, bigint>();
    const regressions: string[] = [];
    for (const push of fx.fake.pushes()) {
      if (!push.accepted || !push.instance_id || !push.update_time) continue;
      const t = BigInt(push.update_time);
      const prev = last.get(push.instance_id);
      if (prev !== undefined && t < prev) regressions.push(`${push.instance_id}: ${prev} then ${t}`);
      last.set(push.instance_id, t);
    }
    expect(regressions).toEqual([]);
    expect(fx.fake.instances().length).toBeGreaterThan(10);
  }, 240_000);
});
