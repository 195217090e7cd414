// Reports the backfill while it drains: the instances left in the bulk and backfill lanes, the rate
// they leave at (over the last minute) and the time left, as gauges on every sample and as one log line
// when it starts, every `logEveryMs` while it drains and one when it is done. Invariant: it only
// observes (outcomes and the lag probe's backlog counts); it never slows or changes the sync.
import type { Logger } from '../core/logger.js';
import { LANE_LIVE } from '../replica/instance-vocabulary.js';
import type { Metrics } from './metrics.js';
import { humanDuration } from './copy-progress.js';
import { DRAINING_RESULTS } from '../sync/push-history.js';
import {
  backfillProgress,
  describeBackfillProgress,
  type BackfillProgressReport,
} from './backfill-progress.js';

const DRAINING: ReadonlySet<string> = new Set(DRAINING_RESULTS);

export class BackfillReporter {
  /** Instances drained per whole second (ms / 1000), for the last window. */
  private readonly perSecond = new Map<number, number>();
  private readonly startedAt: number;
  private lastLog = 0;
  /** While the lanes hold instances: when that began and how many had left since. */
  private draining: { since: number; drained: number } | null = null;
  private last: BackfillProgressReport | null = null;

  constructor(
    private readonly o: {
      metrics: Metrics;
      logger: Logger;
      /** The budget's calls per minute (the ETA's basis before any instance left the lanes). */
      budgetPerMinute: number;
      /** The window the rate is measured over (default 60 s). */
      windowMs?: number;
      /** Least time between two progress lines while it drains (default 30 s). */
      logEveryMs?: number;
      now?: () => number;
    },
  ) {
    this.startedAt = this.now();
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** The latest report (null before the first sample). */
  get report(): BackfillProgressReport | null {
    return this.last;
  }

  /** A push outcome: counts when it took an instance out of the bulk or backfill lane. */
  noteOutcome(lane: number, result: string): void {
    if (lane === LANE_LIVE || !DRAINING.has(result)) return;
    const second = Math.floor(this.now() / 1000);
    this.perSecond.set(second, (this.perSecond.get(second) ?? 0) + 1);
    if (this.draining) this.draining.drained++;
  }

  /** The lanes' counts as the lag probe sampled them. */
  update(bulk: number, backfill: number): BackfillProgressReport {
    const now = this.now();
    const windowMs = this.o.windowMs ?? 60_000;
    let drained = 0;
    for (const [second, count] of this.perSecond) {
      if (second * 1000 <= now - windowMs) this.perSecond.delete(second);
      else drained += count;
    }
    const windowSeconds = Math.max(1, Math.min(windowMs, now - this.startedAt) / 1000);
    const report = backfillProgress({
      bulk,
      backfill,
      drained,
      windowSeconds,
      budgetPerMinute: this.o.budgetPerMinute,
    });
    this.last = report;
    const m = this.o.metrics;
    m.backfillRemaining.set(report.remaining);
    m.backfillRate.set(report.perSecond);
    m.backfillEta.set(report.etaSeconds ?? Number.NaN);
    this.log(report, now);
    return report;
  }

  private log(report: BackfillProgressReport, now: number): void {
    const fields = {
      remaining: report.remaining,
      bulk: report.bulk,
      backfill: report.backfill,
      instancesPerSecond: Math.round(report.perSecond * 100) / 100,
      etaSeconds: report.etaSeconds === null ? null : Math.round(report.etaSeconds),
      etaBasis: report.basis,
    };
    if (report.remaining === 0) {
      if (!this.draining) return;
      const took = (now - this.draining.since) / 1000;
      this.o.logger.info(
        { ...fields, drained: this.draining.drained, seconds: Math.round(took) },
        `backfill drained: ${this.draining.drained.toLocaleString('en-US')} instances in ${humanDuration(took)}`,
      );
      this.draining = null;
      return;
    }
    const first = !this.draining;
    if (first) this.draining = { since: now, drained: 0 };
    if (!first && now - this.lastLog < (this.o.logEveryMs ?? 30_000)) return;
    this.lastLog = now;
    this.o.logger.info(fields, `backfill: ${describeBackfillProgress(report, this.o.budgetPerMinute)}`);
  }
}
