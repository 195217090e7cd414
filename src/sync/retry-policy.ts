// The one table deciding what happens after a failed push. Pure: no clock, no I/O; randomness comes
// in as an argument. Invariant: every failure ends in exactly one of retry (with a bounded delay),
// park (with a reason) or stop (credentials or scope: nothing can succeed until a human acts).
import { describeError, isCdcError } from '../errors.js';
import type { Disposition } from '../feishu/error-table.js';

export type { Disposition };

export type NextStep =
  | { action: 'retry'; delayMs: number; reason: string }
  | { action: 'park'; reason: string }
  | { action: 'stop'; reason: string }
  /** The monthly quota is spent: pause pushing until it renews (probe rarely), no retry loop. */
  | { action: 'pause'; reason: string };

export interface RetryPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
  /** Transient failures of one instance after which it is parked (0 = retry forever). */
  maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseDelayMs: 500, maxDelayMs: 60_000, maxAttempts: 0 };

/** What a failure says about itself: the feishu client puts disposition and retryAfterMs in details. */
export function failureOf(error: unknown): {
  disposition: Disposition;
  retryAfterMs: number | null;
  reason: string;
  code: string;
} {
  const reason = describeError(error);
  if (isCdcError(error)) {
    const d = error.details.disposition;
    const disposition: Disposition =
      d === 'retry' || d === 'renew-token' || d === 'park' || d === 'stop' || d === 'quota'
        ? d
        : error.code === 'PAYLOAD_LIMIT' || error.code === 'MAPPING_UNMAPPABLE'
          ? 'park'
          : 'retry';
    const retryAfter = error.details.retryAfterMs;
    const feishuCode = error.details.feishuCode;
    return {
      disposition,
      retryAfterMs: typeof retryAfter === 'number' ? retryAfter : null,
      reason,
      code: feishuCode !== undefined ? String(feishuCode) : error.code,
    };
  }
  return { disposition: 'retry', retryAfterMs: null, reason, code: 'INTERNAL' };
}

/** Exponential backoff with full jitter in [delay/2, delay], at least the server's reset time. */
export function backoffMs(
  attempt: number,
  policy: RetryPolicy,
  random: number,
  retryAfterMs: number | null = null,
): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(exp / 2 + (exp / 2) * Math.min(1, Math.max(0, random)));
  return Math.max(jittered, retryAfterMs ?? 0);
}

export function nextStep(error: unknown, attempt: number, policy: RetryPolicy, random: number): NextStep {
  const f = failureOf(error);
  switch (f.disposition) {
    case 'park':
      return { action: 'park', reason: f.reason };
    case 'stop':
      return { action: 'stop', reason: f.reason };
    case 'quota':
      return { action: 'pause', reason: f.reason };
    case 'retry':
    case 'renew-token':
      if (policy.maxAttempts > 0 && attempt >= policy.maxAttempts) {
        return { action: 'park', reason: `gave up after ${attempt} attempts: ${f.reason}` };
      }
      return {
        action: 'retry',
        delayMs: backoffMs(attempt, policy, random, f.retryAfterMs),
        reason: f.reason,
      };
  }
}
