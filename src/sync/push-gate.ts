// Whether pushing to Feishu is allowed right now: a small circuit breaker with a manual trip.
// States: `running`, or `stopped` with its reason, the failure code, since when, and the time of the
// next probe. While stopped nothing is pushed except, once the probe is due, exactly one push (the
// probe): when Feishu accepts it (or any push in flight) the gate runs again by itself; when the probe
// stops again, the next probe waits twice as long (up to `maxProbeIntervalMs`).
// Invariants: pure bookkeeping on an injected clock (no timers, no I/O; the scheduler sleeps until
// `msUntilProbe()`); at most one probe in flight; a stop is never cleared except by an accepted push
// or `resume()`.
//
// API for other stops (the monthly quota pause, an outage breaker):
//   gate.stop(reason, code, { probeAt })  - stop now, first probe at `probeAt` (default: now + interval)
//   gate.admit()                          - 'push' | 'probe' | 'wait' for the next push to start
//   gate.accepted() / gate.probeEnded()   - a push was accepted / the probe push ended without a stop
//   gate.state, gate.onChange             - for status, /readyz and the metric

export type PushGateState =
  | { state: 'running' }
  | { state: 'stopped'; reason: string; code: string; since: Date; nextProbeAt: Date; probes: number };

export interface PushGateOptions {
  /** First wait before a probe after a stop (default 30 s). */
  probeIntervalMs?: number;
  /** Longest wait between probes (default 10 min). */
  maxProbeIntervalMs?: number;
  now?: () => number;
  /** Called after every change of state (persisted for `status`, shown as a metric). */
  onChange?: (state: PushGateState) => void;
}

export class PushGate {
  #state: PushGateState = { state: 'running' };
  #probeInFlight = false;
  #intervalMs: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #now: () => number;
  readonly #onChange: PushGateOptions['onChange'];

  constructor(options: PushGateOptions = {}) {
    this.#baseMs = options.probeIntervalMs ?? 30_000;
    this.#maxMs = Math.max(this.#baseMs, options.maxProbeIntervalMs ?? 600_000);
    this.#intervalMs = this.#baseMs;
    this.#now = options.now ?? Date.now;
    this.#onChange = options.onChange;
  }

  get state(): PushGateState {
    return this.#state;
  }

  get running(): boolean {
    return this.#state.state === 'running';
  }

  /** The reason pushing is stopped, or null while running. */
  get stoppedReason(): string | null {
    return this.#state.state === 'stopped' ? this.#state.reason : null;
  }

  /** May a push start now? 'probe' means: yes, as the one trial push; report its end. */
  admit(): 'push' | 'probe' | 'wait' {
    const s = this.#state;
    if (s.state === 'running') return 'push';
    if (this.#probeInFlight || this.#now() < s.nextProbeAt.getTime()) return 'wait';
    this.#probeInFlight = true;
    return 'probe';
  }

  /** Milliseconds until a probe may start (0 while running or when due; large while one is in flight). */
  msUntilProbe(): number {
    const s = this.#state;
    if (s.state === 'running') return 0;
    if (this.#probeInFlight) return this.#baseMs;
    return Math.max(0, s.nextProbeAt.getTime() - this.#now());
  }

  /** Stops pushing (or, while stopped, records a failed probe and backs the next one off). */
  stop(reason: string, code: string, options: { probeAt?: Date } = {}): void {
    const now = this.#now();
    const prev = this.#state;
    if (prev.state === 'stopped' && this.#probeInFlight)
      this.#intervalMs = Math.min(this.#maxMs, this.#intervalMs * 2);
    this.#probeInFlight = false;
    const nextProbeAt = options.probeAt ?? new Date(now + this.#intervalMs);
    this.#state = {
      state: 'stopped',
      reason,
      code,
      since: prev.state === 'stopped' ? prev.since : new Date(now),
      nextProbeAt,
      probes: prev.state === 'stopped' ? prev.probes + 1 : 0,
    };
    this.#onChange?.(this.#state);
  }

  /** Feishu accepted a push: pushing works, whatever stopped it is gone. */
  accepted(): void {
    this.#probeInFlight = false;
    if (this.#state.state === 'running') return;
    this.resume();
  }

  /** The probe ended without a stop (e.g. retried or parked for its own reasons): probe again soon. */
  probeEnded(): void {
    if (!this.#probeInFlight) return;
    this.#probeInFlight = false;
    const s = this.#state;
    if (s.state === 'stopped') this.#state = { ...s, nextProbeAt: new Date(this.#now()) };
  }

  /** Back to running (an operator's decision, or a probe that succeeded). */
  resume(): void {
    this.#probeInFlight = false;
    this.#intervalMs = this.#baseMs;
    if (this.#state.state === 'running') return;
    this.#state = { state: 'running' };
    this.#onChange?.(this.#state);
  }
}
