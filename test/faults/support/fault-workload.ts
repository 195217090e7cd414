// The random legacy workload (test/support/legacy-workload.ts) run in the background for as long as a
// fault lasts. Transactions that fail because the fault hit the workload's own connection are counted
// and retried after a pause: their outcome is whatever Postgres decided, and the convergence check
// compares Feishu with what the database holds, not with what the workload meant to do.
import type pg from 'pg';
import {
  newWorkloadState,
  seededRandom,
  workloadStep,
  type WorkloadState,
} from '../../support/legacy-workload.js';

export interface BackgroundWorkload {
  readonly steps: number;
  readonly errors: number;
  state: WorkloadState;
  /** Runs `n` steps now (in the foreground), retrying failed ones. */
  burst(n: number): Promise<void>;
  stop(): Promise<{ steps: number; errors: number }>;
}

export function startWorkload(
  sql: pg.Pool,
  o: { seed: number; pauseMs?: number; start?: number; background?: boolean },
): BackgroundWorkload {
  const random = seededRandom(o.seed);
  const clock = { minute: 0 };
  const state = newWorkloadState(o.start ?? 1);
  let running = o.background ?? true;
  const w: BackgroundWorkload = {
    steps: 0,
    errors: 0,
    state,
    async burst(n: number) {
      for (let i = 0; i < n;) {
        if (await step()) i++;
        else await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      running = false;
      await loop;
      return { steps: w.steps, errors: w.errors };
    },
  };
  const step = async (): Promise<boolean> => {
    try {
      await workloadStep(sql, state, random, clock);
      (w as { steps: number }).steps++;
      return true;
    } catch {
      (w as { errors: number }).errors++;
      return false;
    }
  };
  const loop = (async () => {
    while (running) {
      const ok = await step();
      await new Promise((r) => setTimeout(r, ok ? (o.pauseMs ?? 30) : 250));
    }
  })();
  return w;
}
