// The one table deciding what happens after a failed push: DISPOSITION_BY_CODE, one entry per error
// code; for Feishu's answers it applies the verdict of feishu/error-table.ts that the client puts in
// the error's details. Pure: no clock, no I/O; randomness comes in as an argument. Invariant: every
// failure ends in exactly one of retry (with a bounded delay), park (with a reason), stop
// (credentials or scope: nothing can succeed until a human acts) or pause (the monthly quota).
import { describeError, isCdcError, isFeishuError, type Disposition, type ErrorCode } from '../errors.js';

export type { Disposition };

/**
 * What a failure of each code means for the instance being pushed. 'feishu': the client classified
 * Feishu's answer (error-table.ts) and its disposition is in the details. A failure that describes
 * the instance's own rows parks it (pushing it again cannot help); everything else is transient.
 */
export const DISPOSITION_BY_CODE: Readonly<Record<ErrorCode, Disposition | 'feishu'>> = {
  CONFIG_INVALID: 'retry',
  MAPPING_INVALID: 'retry',
  MAPPING_UNMAPPABLE: 'park',
  SOURCE_STREAM: 'retry',
  SOURCE_SLOT_LOST: 'retry',
  SOURCE_SLOT_MISSING: 'retry',
  SOURCE_SETUP: 'retry',
  SOURCE_PRIVILEGE: 'retry',
  SNAPSHOT_FAILED: 'retry',
  REPLICA_WRITE: 'retry',
  STATE_DB: 'retry',
  FEISHU_HTTP: 'feishu',
  FEISHU_API: 'feishu',
  FEISHU_RATE_LIMITED: 'feishu',
  FEISHU_QUOTA: 'feishu',
  FEISHU_PERMISSION: 'feishu',
  FEISHU_TOKEN: 'feishu',
  FEISHU_TIMEOUT: 'feishu',
  FEISHU_NETWORK: 'feishu',
  PAYLOAD_LIMIT: 'park',
  WRITE_BACK_TRANSIENT: 'retry',
  WRITE_BACK_FAILED: 'park',
  LOCK_HELD: 'retry',
  SHUTDOWN: 'retry',
  HTTP_REQUEST: 'retry',
  INTERNAL: 'retry',
};

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

/** What a failure says about itself, read from its code and (for Feishu's answers) its details. */
export function failureOf(error: unknown): {
  disposition: Disposition;
  retryAfterMs: number | null;
  reason: string;
  code: string;
} {
  const reason = describeError(error);
  if (isFeishuError(error)) {
    const d = error.details;
    return {
      disposition: d.disposition,
      retryAfterMs: d.retryAfterMs ?? null,
      reason,
      code: d.feishuCode !== undefined ? String(d.feishuCode) : error.code,
    };
  }
  if (isCdcError(error)) {
    const byCode = DISPOSITION_BY_CODE[error.code];
    return {
      disposition: byCode === 'feishu' ? 'retry' : byCode,
      retryAfterMs: null,
      reason,
      code: error.code,
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
