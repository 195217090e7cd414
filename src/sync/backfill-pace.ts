// Paces the lanes below live: at most perWindow/30 starts in any 1/30 of the window (2 s of
// Feishu's minute), i.e. the window's budget spread over the window instead of spent in its first
// seconds at the per-second limit, so the window never runs dry and a live change finds a unit
// within a moment. Pure bookkeeping on the times it is given. Invariant: a start taken back (the
// push was not made) no longer counts.
export class BackfillPace {
  private starts: number[] = [];
  private readonly limit: number;
  private readonly sliceMs: number;
  constructor(perWindow: number, windowMs = 60_000) {
    this.limit = Number.isFinite(perWindow)
      ? Math.max(1, Math.floor(perWindow / 30))
      : Number.POSITIVE_INFINITY;
    this.sliceMs = windowMs / 30;
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
