// Paces the lanes below live (bulk and backfill): they start at most perWindow - liveReserve pushes
// in any window, spread evenly over it (4 every quarter second of Feishu's minute) instead of spending
// the window in its first seconds at the per-second limit. So the window never runs dry, and the
// reserve (LIVE_RESERVE of the budget, 30 of Feishu's 1,000 a minute) is always free for live
// changes: while fewer than that arrive in a minute, a live change finds a unit at once instead of
// waiting for one of the lower lanes' units to leave the window. Pure bookkeeping on the times it is
// given. Invariant: a start taken back (the push was not made) no longer counts.

/** The share of the window's budget the lanes below live leave to live changes. */
export const LIVE_RESERVE = 0.03;

/** Starts per window the lanes below live may take out of a budget of `perWindow`. */
export function pacedPerWindow(perWindow: number): number {
  if (!Number.isFinite(perWindow)) return perWindow;
  return Math.max(1, perWindow - Math.max(1, Math.ceil(perWindow * LIVE_RESERVE)));
}

export class BackfillPace {
  private starts: number[] = [];
  private readonly limit: number;
  private readonly sliceMs: number;
  /** `perWindow`: the whole budget of the window; the pace keeps the live reserve out of it. */
  constructor(perWindow: number, windowMs = 60_000) {
    const paced = pacedPerWindow(perWindow);
    if (!Number.isFinite(paced)) {
      this.limit = Number.POSITIVE_INFINITY;
      this.sliceMs = windowMs / 30;
      return;
    }
    // A few starts per slice (a late start does not hold back the next), slices sized so that any
    // window holds at most `paced` starts: L per slice of L * windowMs / (paced - L + 1) gives at
    // most paced - L + 1 slices' worth plus one partial slice, i.e. `paced`.
    this.limit = Math.max(1, Math.min(paced, Math.round(paced / 240)));
    this.sliceMs = (windowMs * this.limit) / (paced - this.limit + 1);
  }
  /** Milliseconds until a paced push may start (0 = now). */
  delay(now: number): number {
    this.starts = this.starts.filter((t) => t > now - this.sliceMs);
    if (this.starts.length < this.limit) return 0;
    return Math.max(1, (this.starts[0] as number) + this.sliceMs - now);
  }
  /** Records a start; the returned function takes it back (the push was not made after all). */
  take(now: number): () => void {
    this.starts.push(now);
    return () => {
      const i = this.starts.indexOf(now);
      if (i >= 0) this.starts.splice(i, 1);
    };
  }
}
