// The circuit breaker for Feishu outages: after `failures` consecutive pushes that failed as in an
// outage (5xx, timeouts, resets, refused connections), pushing stops except for one probe every
// `probeIntervalMs`; the first answer from Feishu closes it again. Pure bookkeeping on an injected
// clock. Invariants: while open, at most one probe is in flight and probes start at least
// probeIntervalMs apart, so an outage of T ms costs at most T / probeIntervalMs + 1 calls once
// open; any answer that is not an outage (accepted, or a verdict on the payload) closes it, since
// Feishu is then up. Transient only: definitive stops (credentials, scope, quota) are not its job.
import { isFeishuError } from '../errors.js';

export interface CircuitBreakerOptions {
  failures: number;
  probeIntervalMs: number;
  now?: () => number;
}

/** Whether a failed push says Feishu is unreachable or failing as a whole, not this payload. */
export function isOutage(error: unknown): boolean {
  if (!isFeishuError(error)) return false;
  if (error.code === 'FEISHU_TIMEOUT' || error.code === 'FEISHU_NETWORK') return true;
  const status = error.details.httpStatus;
  return typeof status === 'number' && status >= 500 && error.details.feishuCode === undefined;
}

export class CircuitBreaker {
  private consecutive = 0;
  private openSince: number | null = null;
  private lastProbe = Number.NEGATIVE_INFINITY;
  private probing = false;
  private readonly now: () => number;

  constructor(private readonly o: CircuitBreakerOptions) {
    this.now = o.now ?? Date.now;
  }

  get open(): boolean {
    return this.openSince !== null;
  }

  /** Milliseconds until a push may start (0 = now). */
  delay(): number {
    if (this.openSince === null) return 0;
    if (this.probing) return this.o.probeIntervalMs;
    return Math.max(0, this.lastProbe + this.o.probeIntervalMs - this.now());
  }

  /** A push starts now (after delay() said 0); true when it is a probe. */
  start(): boolean {
    if (this.openSince === null) return false;
    this.probing = true;
    this.lastProbe = this.now();
    return true;
  }

  /** A push started as a probe was not sent after all (nothing to push). */
  unsent(probe: boolean): void {
    if (probe) {
      this.probing = false;
      this.lastProbe = Number.NEGATIVE_INFINITY;
    }
  }

  /** Feishu answered (accepted, or judged the payload): closes the breaker; true if it was open. */
  answered(): boolean {
    const wasOpen = this.openSince !== null;
    this.consecutive = 0;
    this.openSince = null;
    this.probing = false;
    return wasOpen;
  }

  /** A push failed as in an outage; true when this failure opened the breaker. */
  outage(): boolean {
    this.consecutive++;
    if (this.openSince !== null) {
      this.probing = false;
      return false;
    }
    if (this.consecutive < this.o.failures) return false;
    this.openSince = this.now();
    this.lastProbe = this.openSince;
    return true;
  }
}
