// Owns the client-side rate budget of one Feishu endpoint: both of Feishu's windows (per second and
// per minute), shared by every call. Invariant: Feishu never sees more than perSecond (perMinute)
// of our calls arrive within any 1 s (60 s) window, so under its own settings the connector never
// provokes a 429. A call occupies its window slot from the moment it is granted until `window` after
// it completes: its arrival at Feishu lies somewhere in between, so however network delays reorder
// arrivals, any window Feishu looks at holds at most the limit (a counter of grant times alone would
// let a slow call and a fast later one land in the same server window). A server-imposed pause
// (x-ogw-ratelimit-reset) holds every caller. Calls made before this budget existed (by a previous
// process, or the active one a standby replaces) are seeded from the durable ledger (rate-ledger.ts),
// so a restart does not spend a window Feishu still counts.
import { CdcError } from '../errors.js';

export interface RateBudgetOptions {
  perSecond: number;
  perMinute: number;
  /** Length of the window perMinute applies to (Feishu: 60 s; tests shorten it). */
  windowMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** A granted unit: release() when the call completed (either way); cancel() if no call was made. */
export interface BudgetTicket {
  release(): void;
  cancel(): void;
}

interface Slot {
  /** Completion time, Infinity while the call is in flight. */
  end: number;
}

const IN_FLIGHT_POLL_MS = 5;

export class RateBudget {
  private slots: Slot[] = [];
  private pausedUntil = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private tail: Promise<unknown> = Promise.resolve();
  /** Calls granted since creation, for metrics. */
  granted = 0;

  private readonly windowMs: number;

  constructor(private readonly o: RateBudgetOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.windowMs = o.windowMs ?? 60_000;
  }

  /** Counts calls that completed at these times (this clock) before the budget was created. */
  seed(endTimes: readonly number[]): void {
    for (const end of endTimes) this.slots.push({ end });
  }

  /** Waits for a unit of budget; callers are served in order. Rejects when `signal` aborts. */
  acquire(signal?: AbortSignal): Promise<BudgetTicket> {
    const turn = this.tail.then(() => this.waitForRoom(signal));
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  /** Holds every caller until `ms` from now (the server said the window resets then). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
  }

  /** Calls granted within the last minute (in flight included), for utilisation metrics. */
  usedLastMinute(): number {
    return this.occupied(this.now(), this.windowMs).count;
  }

  private occupied(t: number, window: number): { count: number; nextFree: number } {
    let count = 0;
    let nextFree = Infinity;
    for (const s of this.slots) {
      if (s.end > t - window) {
        count++;
        nextFree = Math.min(nextFree, s.end === Infinity ? t + IN_FLIGHT_POLL_MS - window : s.end);
      }
    }
    return { count, nextFree: nextFree + window };
  }

  private delayUntilFree(t: number): number {
    // Slots older than the longest window can never count again.
    this.slots = this.slots.filter((s) => s.end > t - Math.max(1000, this.windowMs));
    let wait = Math.max(0, this.pausedUntil - t);
    const second = this.occupied(t, 1000);
    if (second.count >= this.o.perSecond) wait = Math.max(wait, second.nextFree - t);
    const minute = this.occupied(t, this.windowMs);
    if (minute.count >= this.o.perMinute) wait = Math.max(wait, minute.nextFree - t);
    return wait;
  }

  private async waitForRoom(signal?: AbortSignal): Promise<BudgetTicket> {
    for (;;) {
      if (signal?.aborted) throw new CdcError('SHUTDOWN', 'budget wait aborted');
      const wait = this.delayUntilFree(this.now());
      if (wait <= 0) break;
      // With a signal, wake up now and then to notice it; a minute-long wait must not block a stop.
      await this.sleep(Math.max(1, signal ? Math.min(wait, 100) : wait));
    }
    const slot: Slot = { end: Infinity };
    this.slots.push(slot);
    this.granted++;
    return {
      release: () => {
        if (slot.end === Infinity) slot.end = this.now();
      },
      cancel: () => {
        this.slots = this.slots.filter((s) => s !== slot);
        this.granted--;
      },
    };
  }
}
