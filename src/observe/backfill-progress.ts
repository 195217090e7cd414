// Owns how far the backfill is: the instances left in the lanes below live (bulk and backfill), the
// rate they leave at, and the time left at that rate, for the log, `status` and metrics. Pure: callers
// pass the counts and the window they measured. Invariant: the time left is never a guess without a
// basis: it is measured when instances left the lanes in the window, else the budget's ceiling (the
// backfill never goes faster than the per-minute budget), and the report says which.
import { humanDuration } from './copy-progress.js';

export interface BackfillFigures {
  bulk: number;
  backfill: number;
  /** Instances of the bulk and backfill lanes synced or parked within the last `windowSeconds`. */
  drained: number;
  windowSeconds: number;
  /** The budget's calls per minute: the ceiling of the backfill's rate. */
  budgetPerMinute: number;
}

export interface BackfillProgressReport {
  /** Instances left in the bulk and backfill lanes. */
  remaining: number;
  bulk: number;
  backfill: number;
  /** Instances that left those lanes per second, measured over the window (0 when none did). */
  perSecond: number;
  etaSeconds: number | null;
  /** 'measured': at the rate seen; 'budget': nothing left the lanes in the window, so at the budget. */
  basis: 'measured' | 'budget' | null;
}

export function backfillProgress(f: BackfillFigures): BackfillProgressReport {
  const remaining = f.bulk + f.backfill;
  const perSecond = f.windowSeconds > 0 ? f.drained / f.windowSeconds : 0;
  const base = { remaining, bulk: f.bulk, backfill: f.backfill, perSecond };
  if (remaining === 0) return { ...base, etaSeconds: 0, basis: null };
  if (perSecond > 0) return { ...base, etaSeconds: remaining / perSecond, basis: 'measured' };
  const ceiling = f.budgetPerMinute / 60;
  if (Number.isFinite(ceiling) && ceiling > 0)
    return { ...base, etaSeconds: remaining / ceiling, basis: 'budget' };
  return { ...base, etaSeconds: null, basis: null };
}

/** "398,705 instances left (bulk 0, backfill 398,705), 3.3/s, ETA 33 h 33 min". */
export function describeBackfillProgress(r: BackfillProgressReport, budgetPerMinute?: number): string {
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  if (r.remaining === 0) return 'no instances left';
  const rate = r.perSecond >= 10 ? n(r.perSecond) : r.perSecond.toFixed(1);
  const eta =
    r.etaSeconds === null
      ? ''
      : r.basis === 'budget'
        ? `, ETA ${humanDuration(r.etaSeconds)} at the budget${budgetPerMinute ? ` of ${n(budgetPerMinute)}/min` : ''} (none left the lanes lately)`
        : `, ETA ${humanDuration(r.etaSeconds)}`;
  return `${n(r.remaining)} instances left (bulk ${n(r.bulk)}, backfill ${n(r.backfill)}), ${rate} instances/s${eta}`;
}
