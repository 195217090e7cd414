// The loop of a background worker (sync scheduler, notifier, decision applier): it runs one round
// after another while the worker runs, sleeps between rounds until a timeout or a wake(), and
// survives a failed round (logged, then a second's pause) instead of dying with it.
// Invariants: a wake() is never lost (one that comes while no round sleeps ends the next sleep at
// once); only the current sleep may be ended by it; a round that fails after stop() ends the loop.

export class WorkerLoop {
  private wakeUp: (() => void) | null = null;
  private wakePending = false;

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
