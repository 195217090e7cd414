// Owns when the bulk spool (bulk-spool.ts) is applied: between the stream's batches, so that a batch
// the stream hands over waits for one spooled batch at most; never while the stream reads a bulk
// transaction (it ends, and the changes after it come first), nor within SPOOL_QUIET_MS of a batch
// handed over unless the spool has waited SPOOL_EVERY_MS (steady traffic must not starve it);
// after a failure (a deadlock with the sync stage, the state database away) again after a backoff.
// Invariant: one spooled batch at a time; after stop() none starts.

/** The stream handed no batch for this long: a spooled batch may be applied. */
const SPOOL_QUIET_MS = 100;
/** While the stream is never quiet, a spooled batch is applied at least this often. */
const SPOOL_EVERY_MS = 2000;

export interface SpoolDrainOptions<T> {
  /** Applies the oldest spooled batch (null: the spool is empty). */
  step(): Promise<T | null>;
  /** The stream reads a transaction known to be bulk. */
  readingBulk(): boolean;
  /** When the stream last handed a batch over (Date.now()). */
  lastHandedAt(): number;
  onApplied(summary: T): void;
}

export class SpoolDrain<T> {
  private loop: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private lastStepAt = 0;

  constructor(private readonly o: SpoolDrainOptions<T>) {}

  /** Something was spooled (or may be): apply the spool until it is empty. */
  kick(): void {
    if (this.stopped) return;
    // A batch spooled while the loop is finding the spool empty: it goes round once more.
    this.again = true;
    if (this.loop) return;
    this.lastStepAt = Date.now();
    this.loop = this.run().finally(() => {
      this.loop = null;
    });
  }

  /** No spooled batch starts after this; resolves when the one being applied is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.again && !this.stopped) {
      this.again = false;
      for (;;) {
        await this.pauseWhile(
          () =>
            this.o.readingBulk() ||
            (Date.now() - this.o.lastHandedAt() < SPOOL_QUIET_MS &&
              Date.now() - this.lastStepAt < SPOOL_EVERY_MS),
        );
        if (this.stopped) return;
        let summary: T | null;
        try {
          summary = await this.o.step();
          failures = 0;
        } catch {
          failures++;
          const until = Date.now() + Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
          await this.pauseWhile(() => Date.now() < until);
          continue;
        }
        this.lastStepAt = Date.now();
        if (summary === null) break;
        this.o.onApplied(summary);
      }
    }
  }

  private async pauseWhile(busy: () => boolean): Promise<void> {
    while (!this.stopped && busy()) await new Promise((r) => setTimeout(r, 20));
  }
}
