// Rate limiting of the fake Feishu: sliding windows per key (API × app, reference §6.1), any number
// of them (Feishu documents 50/s and 1000/min for each endpoint).
// Invariant: within any span of `windowMs` at most `limit` calls of one key are admitted; rejected calls
// are not counted, so a client that backs off by the reset header gets through. Sliding windows are
// stricter than fixed ones, so a client kept within budget here stays within budget at Feishu either way.

export interface RateWindow {
  windowMs: number;
  limit: number;
}

export type RateDecision = { ok: true } | { ok: false; limit: number; resetSeconds: number };

export class RateWindows {
  readonly #windows: readonly RateWindow[];
  readonly #now: () => number;
  /** Admission times per key, oldest first, kept for the longest window. */
  readonly #log = new Map<string, number[]>();

  constructor(windows: readonly RateWindow[], now: () => number) {
    this.#windows = windows;
    this.#now = now;
  }

  take(key: string): RateDecision {
    const now = this.#now();
    const longest = Math.max(0, ...this.#windows.map((w) => w.windowMs));
    const log = this.#log.get(key) ?? [];
    while (log.length > 0 && (log[0] ?? 0) <= now - longest) log.shift();
    let worst: { limit: number; resetSeconds: number } | undefined;
    for (const w of this.#windows) {
      const inWindow = log.filter((t) => t > now - w.windowMs);
      if (inWindow.length < w.limit) continue;
      // The window frees once its oldest admitted call that still blocks falls out of it.
      const blocker = inWindow[inWindow.length - w.limit] ?? now;
      const resetSeconds = Math.max(1, Math.ceil((blocker + w.windowMs - now) / 1000));
      if (!worst || resetSeconds > worst.resetSeconds) worst = { limit: w.limit, resetSeconds };
    }
    if (worst) return { ok: false, ...worst };
    log.push(now);
    this.#log.set(key, log);
    return { ok: true };
  }

  clear(): void {
    this.#log.clear();
  }
}
