// Owns the client-side rate budget of one Feishu endpoint: both of Feishu's windows (per second and
// per minute) as sliding windows, shared by every call. Invariant: within any window of 1 s (60 s)
// at most perSecond (perMinute) calls start, so under its own settings the connector never provokes
// a 429; a server-imposed pause (x-ogw-ratelimit-reset) holds every caller.

export interface RateBudgetOptions {
  perSecond: number;
  perMinute: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class RateBudget {
  private readonly second: number[] = [];
  private readonly minute: number[] = [];
  private pausedUntil = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private tail: Promise<void> = Promise.resolve();
  /** Calls started since creation, for metrics. */
  granted = 0;

  constructor(private readonly o: RateBudgetOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Waits for a unit of budget; callers are served in order. */
  acquire(): Promise<void> {
    const turn = this.tail.then(() => this.waitForRoom());
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  /** Milliseconds until a unit would be free now (0 = free). Pure read, no reservation. */
  delayUntilFree(): number {
    const t = this.now();
    this.expire(t);
    let wait = Math.max(0, this.pausedUntil - t);
    if (this.second.length >= this.o.perSecond) wait = Math.max(wait, (this.second[0] ?? t) + 1000 - t);
    if (this.minute.length >= this.o.perMinute) wait = Math.max(wait, (this.minute[0] ?? t) + 60_000 - t);
    return wait;
  }

  /** Holds every caller until `ms` from now (the server said the window resets then). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
  }

  /** Calls started within the last minute, for utilisation metrics. */
  usedLastMinute(): number {
    this.expire(this.now());
    return this.minute.length;
  }

  private expire(t: number): void {
    while (this.second.length > 0 && (this.second[0] as number) <= t - 1000) this.second.shift();
    while (this.minute.length > 0 && (this.minute[0] as number) <= t - 60_000) this.minute.shift();
  }

  private async waitForRoom(): Promise<void> {
    for (;;) {
      const wait = this.delayUntilFree();
      if (wait <= 0) break;
      await this.sleep(wait);
    }
    const t = this.now();
    this.second.push(t);
    this.minute.push(t);
    this.granted++;
  }
}
