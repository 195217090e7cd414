// Samples lag where users feel it: the slot's position and retained WAL on the source, the newest
// applied commit and the backlog in the state database. Read-only. It starts before the initial copy,
// so the slot's gauges are true while the copy runs (when WAL piles up most). Invariants: a slot gauge
// that cannot be read (no slot yet, a failed sample) is NaN, never 0 or a stale value; one sample at
// a time (a slow state database gets no pile of samples holding its connections); the backlog count,
// which reads every dirty instance, takes at most a twentieth of the time (backlogPauseMs).
import type { Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import pg from 'pg';
import type { Logger } from '../core/logger.js';
import { LANES, WAL_STATUSES, type Metrics } from './metrics.js';
import { readSlot } from '../source/slot-admin.js';
import type { CheckpointStore } from '../replica/checkpoint-store.js';
import type { InstanceViews } from '../replica/instance-views.js';
import type { BulkSpool } from '../replica/bulk-spool.js';
import { laneName } from '../replica/instance-vocabulary.js';

export interface LagSample {
  lagBytes: number;
  lagSeconds: number;
  backlogLive: number;
  backlogBulk: number;
  backlogBackfill: number;
}

/**
 * How long after a backlog count that took `tookMs` the next one may start. The count reads every
 * dirty instance (95 ms at 250,000 in the initial-load bench): every 2 s, a first load of a few
 * million rows would keep a state backend busy with it.
 */
export function backlogPauseMs(tookMs: number): number {
  return 20 * tookMs;
}

type Backlog = Awaited<ReturnType<InstanceViews['backlog']>>;

export class LagProbe {
  private timer: NodeJS.Timeout | null = null;
  private client: pg.Client | null = null;
  private sampling: Promise<void> | null = null;
  private backlog: { rows: Backlog; nextAt: number } | null = null;

  constructor(
    private readonly o: {
      sourceUrl: string;
      slot: string;
      metrics: Metrics;
      checkpoints: CheckpointStore;
      /** The instances' views once the sync stage exists (the probe starts before it, during the copy). */
      instances: () => InstanceViews | null;
      db: Kysely<StateDb>;
      /** The bulk spool: what waits in it is sampled too. */
      spool?: BulkSpool;
      logger: Logger;
      intervalMs: number;
      /** Called after each complete sample with what it read (the console's charts keep them). */
      onSample?: (sample: LagSample) => void;
    },
  ) {}

  start(): void {
    const tick = () => {
      if (this.sampling) return;
      this.sampling = this.sample().finally(() => (this.sampling = null));
    };
    this.timer = setInterval(tick, this.o.intervalMs);
    tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }

  private async backlogOf(instances: InstanceViews): Promise<Backlog> {
    const now = Date.now();
    if (this.backlog && now < this.backlog.nextAt) return this.backlog.rows;
    const rows = await instances.backlog();
    this.backlog = { rows, nextAt: now + backlogPauseMs(Date.now() - now) };
    return rows;
  }

  private unreadSlot(): void {
    const m = this.o.metrics;
    for (const g of [m.slotLagBytes, m.slotRetainedBytes, m.slotSafeWalBytes]) g.set(Number.NaN);
  }

  async sample(): Promise<void> {
    const { metrics } = this.o;
    try {
      if (!this.client) {
        this.unreadSlot();
        const c = new pg.Client({ connectionString: this.o.sourceUrl, application_name: 'approval-cdc-lag' });
        c.on('error', () => {
          this.client = null;
        });
        await c.connect();
        this.client = c;
      }
      const slot = await readSlot(this.client, this.o.slot).catch((error: unknown) => {
        this.unreadSlot();
        throw error;
      });
      const sample: LagSample = {
        lagBytes: 0,
        lagSeconds: 0,
        backlogLive: 0,
        backlogBulk: 0,
        backlogBackfill: 0,
      };
      if (slot) {
        sample.lagBytes = Number(slot.lagBytes ?? 0n);
        const bytes = (v: bigint | null) => (v === null ? Number.NaN : Number(v));
        metrics.slotLagBytes.set(bytes(slot.lagBytes));
        metrics.slotRetainedBytes.set(bytes(slot.retainedBytes));
        // NULL safe_wal_size: unlimited (max_slot_wal_keep_size = -1), unless the slot is lost.
        metrics.slotSafeWalBytes.set(
          slot.safeWalSize !== null ? Number(slot.safeWalSize) : slot.walStatus === 'lost' ? Number.NaN : -1,
        );
        metrics.slotActive.set(slot.active ? 1 : 0);
        for (const s of WAL_STATUSES) metrics.slotWalStatus.set({ status: s }, slot.walStatus === s ? 1 : 0);
      } else {
        this.unreadSlot();
      }
      const cp = await this.o.checkpoints.read(this.o.slot);
      if (cp) {
        metrics.checkpointLsn.set(Number(cp.lsn));
        if (cp.lastCommitAt) {
          sample.lagSeconds = Math.max(0, (Date.now() - cp.lastCommitAt.getTime()) / 1000);
          metrics.secondsSinceCommit.set(sample.lagSeconds);
        }
      }
      const instances = this.o.instances();
      if (!instances) return;
      // Every lane is set each time (0 when empty), so a drained lane reads 0, not its last value.
      const lanes = new Map(LANES.map((lane) => [lane, { count: 0, oldest: null as Date | null }]));
      for (const b of await this.backlogOf(instances)) {
        const lane = lanes.get(laneName(b.lane));
        if (!lane) continue;
        lane.count += b.count;
        if (b.oldest && (!lane.oldest || b.oldest < lane.oldest)) lane.oldest = b.oldest;
      }
      for (const [lane, b] of lanes) {
        metrics.backlog.set({ lane }, b.count);
        if (lane === 'live') sample.backlogLive = b.count;
        else if (lane === 'bulk') sample.backlogBulk = b.count;
        else sample.backlogBackfill = b.count;
        metrics.oldestPendingSeconds.set(
          { lane },
          b.oldest ? Math.max(0, (Date.now() - b.oldest.getTime()) / 1000) : 0,
        );
      }
      metrics.parked.set(await instances.countParked());
      if (this.o.spool) {
        const spooled = await this.o.spool.backlog(this.o.db);
        metrics.spoolBatches.set(spooled.batches);
        metrics.spoolOldestSeconds.set(
          spooled.oldest ? Math.max(0, (Date.now() - spooled.oldest.getTime()) / 1000) : 0,
        );
      }
      this.o.onSample?.(sample);
    } catch (error) {
      this.o.logger.debug({ err: error }, 'lag sample failed');
      await this.client?.end().catch(() => undefined);
      this.client = null;
    }
  }
}
