// The shape every fault scenario shares, written once: a fault fixture with the legacy users seeded
// and torn down after (connector process stopped first); then, per run, the ack sampler, the
// connector as a child process and a random workload, the scenario's own disturbance, a final
// burst, convergence, and the two checks every scenario makes (the slot never confirmed past the
// stored checkpoint; accepted pushes never go back in update_time per instance).
import { afterAll, beforeAll, expect } from 'vitest';
import { waitForConvergence } from '../../support/connector-fixture.js';
import { seedUsers } from '../../support/legacy-workload.js';
import {
  startConnectorProcess,
  type ConnectorProcess,
  type ConnectorProcessOptions,
} from './connector-process.js';
import { startFaultFixture, type FaultFixture, type FaultFixtureOptions } from './fault-fixture.js';
import { seconds, sleep } from './fault-line.js';
import { startWorkload, type BackgroundWorkload } from './fault-workload.js';
import { checkPushOrder, type AckReport, type AckSampler, type PushOrderReport } from './invariants.js';

export interface FaultScenario {
  /** The fixture (set in beforeAll). */
  readonly fx: FaultFixture;
  /** The connector of the current run, stopped in afterAll. */
  conn: ConnectorProcess | undefined;
  /** Runs one scenario under load; see RunOptions. */
  run(o: RunOptions, disturb: (r: RunContext) => Promise<void>): Promise<RunResult>;
}

export interface RunOptions {
  /** Seed of the random workload. */
  seed: number;
  pauseMs?: number;
  /** Options of the connector process besides its env. */
  connector?: Omit<ConnectorProcessOptions, 'env'>;
  /** Steps run in the foreground after the workload stopped (default 20). */
  burst?: number;
  /** How long convergence may take after the disturbance (ms). */
  convergeMs: number;
  /** The workload runs this long before the disturbance starts (default 6 s). */
  warmUpMs?: number;
}

export interface RunContext {
  readonly conn: ConnectorProcess;
  readonly sampler: AckSampler;
  readonly workload: BackgroundWorkload;
}

export interface RunResult extends RunContext {
  readonly ack: AckReport;
  readonly order: PushOrderReport;
  /** Time from the end of the workload to convergence. */
  readonly settle: string;
  /** Time since the run started. */
  duration(): string;
}

/**
 * Registers the scenario's beforeAll/afterAll. `setup` runs first in beforeAll and returns the
 * fixture's options (a proxy or a cluster to target); `teardown` runs last in afterAll.
 */
export function faultScenario(
  setup: () => Promise<FaultFixtureOptions> | FaultFixtureOptions = () => ({}),
  teardown: () => Promise<void> | void = () => undefined,
): FaultScenario {
  let fx: FaultFixture | undefined;
  const scenario: FaultScenario = {
    get fx(): FaultFixture {
      if (!fx) throw new Error('the fault fixture is not started yet (use it inside a test)');
      return fx;
    },
    conn: undefined,
    async run(o, disturb) {
      const f = scenario.fx;
      const started = Date.now();
      const sampler = f.startAckSampler();
      const conn = startConnectorProcess({ env: f.connectorEnv(), ...o.connector });
      scenario.conn = conn;
      const workload = startWorkload(f.sql, { seed: o.seed, ...(o.pauseMs ? { pauseMs: o.pauseMs } : {}) });
      await sleep(o.warmUpMs ?? 6000);
      await disturb({ conn, sampler, workload });
      await workload.stop();
      await workload.burst(o.burst ?? 20);
      const settleFrom = Date.now();
      await waitForConvergence(f, o.convergeMs);
      const settle = seconds(settleFrom);
      const ack = await sampler.stop();
      const order = checkPushOrder(f.fake.pushes());
      expect(ack.violations).toEqual([]);
      expect(order.regressions).toEqual([]);
      return { conn, sampler, workload, ack, order, settle, duration: () => seconds(started) };
    },
  };
  beforeAll(async () => {
    fx = await startFaultFixture(await setup());
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await scenario.conn?.stop();
    await fx?.close();
    await teardown();
  });
  return scenario;
}
