// Compares Feishu's view with the replica for recently synced instances through
// external_instances/check, and marks the ones that differ for another push. Invariants: it only
// reads Feishu (check) and marks instances dirty; the pushes themselves go through the scheduler
// like any other change. It spends at most `share` of the check endpoint's budget, and re-pushes
// at most `share` of the push budget per run, so it can never starve live changes.
import type { Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import type { ExternalInstance } from '../feishu/external-instance.js';
import type { CheckInstance, DiffInstance } from '../feishu/payload-schema.js';
import type { MappingSet } from '../mapping/contract.js';
import type { Logger } from '../core/logger.js';
import { loadInstanceRows } from '../replica/row-loader.js';
import { InstanceTable } from '../replica/instance-table.js';
import { RateBudget } from './rate-budget.js';

export interface ReconcilerOptions {
  db: Kysely<StateDb>;
  schema: string;
  mappings: MappingSet;
  check: (instances: CheckInstance[]) => Promise<DiffInstance[]>;
  logger: Logger;
  intervalMs: number;
  /** Instances synced within this window are checked. */
  windowMs: number;
  /** Share of the per-minute budget the reconciler may use (0..1). */
  share: number;
  perMinute: number;
  batchSize?: number;
  onDiff?: (count: number) => void;
}

export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly checkBudget: RateBudget;
  /** Aborted by stop(): a pass paced over minutes ends at its next step instead of finishing. */
  private readonly abort = new AbortController();

  constructor(private readonly o: ReconcilerOptions) {
    const perMinute = Math.max(1, Math.floor(o.perMinute * o.share));
    this.checkBudget = new RateBudget({ perSecond: Math.max(1, Math.floor(perMinute / 20)), perMinute });
  }

  start(): void {
    if (this.o.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .then(() => undefined)
        .catch((e: unknown) => this.o.logger.warn({ err: e }, 'reconcile run failed'))
        .finally(() => {
          this.running = null;
        });
    }, this.o.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.abort.abort();
    await this.running;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  /** Checks one window of recently synced instances; returns how many differed and were marked. */
  async runOnce(): Promise<{ checked: number; differing: number }> {
    const instances = new InstanceTable(this.o.db, this.o.schema);
    // Check calls allowed per run by the share of the budget, each carrying one batch of instances.
    const callsPerRun = Math.max(
      1,
      Math.floor(this.o.perMinute * this.o.share * (this.o.intervalMs / 60_000)),
    );
    const maxInstances = callsPerRun * (this.o.batchSize ?? 20);
    const rows = await instances.recentlySynced(this.o.windowMs, maxInstances);
    const entries: { id: string; entry: CheckInstance }[] = [];
    for (const r of rows) {
      if (this.stopped) return { checked: 0, differing: 0 };
      const ref = r.ref;
      const built = this.o.mappings.build(
        ref,
        await loadInstanceRows(this.o.db, this.o.schema, this.o.mappings, ref),
      );
      if (built.kind !== 'payload') continue;
      entries.push({ id: r.id, entry: checkEntry(built.payload, r.lastUpdateTime) });
    }
    const batch = this.o.batchSize ?? 20;
    const maxRepush = Math.max(
      1,
      Math.floor(this.o.perMinute * this.o.share * Math.max(1, this.o.intervalMs / 60_000)),
    );
    const differing: string[] = [];
    for (let i = 0; i < entries.length && differing.length < maxRepush; i += batch) {
      if (this.stopped) break;
      const part = entries.slice(i, i + batch);
      let ticket;
      try {
        ticket = await this.checkBudget.acquire(this.abort.signal);
      } catch {
        break; // stopped while waiting for the check budget; what was found so far is still marked
      }
      const diffs = await this.o.check(part.map((p) => p.entry)).finally(() => ticket.release());
      const byExternal = new Map(part.map((p) => [p.entry.instance_id, p.id]));
      for (const d of diffs) {
        const id = byExternal.get(d.instance_id);
        if (id && differing.length < maxRepush) differing.push(id);
      }
    }
    if (differing.length > 0) {
      await instances.requeueSynced(differing);
      this.o.logger.warn(
        { count: differing.length },
        'reconciler found instances Feishu does not hold as sent; pushing them again',
      );
      this.o.onDiff?.(differing.length);
    }
    return { checked: entries.length, differing: differing.length };
  }
}

/** What we believe Feishu holds: the instance's last accepted update_time and each task's. */
export function checkEntry(payload: ExternalInstance, lastUpdateTime: bigint): CheckInstance {
  return {
    instance_id: payload.instance_id,
    update_time: lastUpdateTime.toString(),
    tasks: (payload.task_list ?? []).map((t) => ({ task_id: t.task_id, update_time: t.update_time ?? '0' })),
  };
}
