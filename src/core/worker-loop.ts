// The loop of a background worker (sync scheduler, notifier, decision applier): started and stopped
// here, it runs one round after another while running, sleeps between rounds until a timeout or a
// wake(), and survives a failed round (logged, then a second's pause) instead of dying with it.
// Invariants: a wake() is never lost (one that comes while no round sleeps ends the next sleep at
// once); only the current sleep may be ended by it; a round that fails after stop() ends the loop;
// stop() resolves once the current round has ended; settleWithin never holds the process open.

export class WorkerLoop {
  private wakeUp: (() => void) | null = null;
  private wakePending = false;
  private loop: Promise<void> | null = null;
  #running = false;

  get running(): boolean {
    return this.#running;
  }

  /** Runs `round` until stop() (a second start() while running does nothing). */
  start(round: () => Promise<void>, failed: (error: unknown) => void): void {
    if (this.#running) return;
    this.#running = true;
    this.loop = this.run(() => this.#running, round, failed);
  }

  /** No new round; a sleeping one is woken; resolves once the current round has ended. */
  async stop(): Promise<void> {
    this.#running = false;
    this.wake();
    await this.loop?.catch(() => undefined);
  }

  /** Ends the current sleep, or the next one if none is running. */
  wake(): void {
    const w = this.wakeUp;
    if (w) {
      this.wakeUp = null;
      w();
    } else {
      this.wakePending = true;
    }
  }

  /** Sleeps `ms`, or until wake(). */
  idle(ms: number): Promise<void> {
    if (this.wakePending) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        // Only the idle that is still current may clear the slot; an older one must not wipe a newer.
        if (this.wakeUp === finish) this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wakeUp = finish;
    });
  }

  /** Runs `round` while `running()`; a failed round is reported to `failed` and retried after 1 s. */
  async run(
    running: () => boolean,
    round: () => Promise<void>,
    failed: (error: unknown) => void,
  ): Promise<void> {
    while (running()) {
      try {
        await round();
      } catch (error) {
        if (!running()) break;
        failed(error);
        await this.idle(1000);
      }
    }
  }
}

/**
 * Waits for `tasks` (work in flight at a stop) at most `graceMs`; returns as soon as they are done,
 * and the grace timer is cleared so it never holds the process open.
 */
export async function settleWithin(tasks: Iterable<Promise<unknown>>, graceMs: number): Promise<void> {
  const list = [...tasks];
  if (list.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.allSettled(list),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
