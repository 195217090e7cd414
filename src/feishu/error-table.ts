// The one table that says what a failed Feishu call means for the connector (reference/feishu-api.md
// §1.5, §5.3, §6). The client attaches its verdict to every error it throws and the sync stage acts
// on it; nobody else interprets Feishu codes.
// Invariant: every input gets exactly one disposition, and a failure we cannot recognise is never
// retried forever as a stop: unknown codes park; an HTTP status without a code is retried with backoff
// (it may be a gateway's stray answer), or parks when it describes the request (400, 413, 414, 422).

/**
 * quota: the tenant's monthly quota (99991403) or Lark points (99991406) are spent; no call can
 * succeed before the renewal or an upgrade, so pushing pauses instead of retrying (beyond §3.3).
 */
import type { Disposition } from '../errors.js';

export type { Disposition };
export type NetworkFailure = 'timeout' | 'reset' | 'refused';

export interface FeishuFailure {
  httpStatus?: number;
  code?: number;
  network?: NetworkFailure;
  /** Which endpoint failed: the token endpoint reuses generic codes (10003) with another meaning. */
  endpoint?: 'token' | 'api';
}

export interface Classification {
  disposition: Disposition;
  reason: string;
}

export const FEISHU_CODES = {
  OK: 0,
  // generic / gateway
  TOKEN_ENDPOINT_INVALID_PARAM: 10003,
  GET_APP_TOKEN_FAILED: 10012,
  GET_TENANT_TOKEN_FAILED: 10013,
  APP_UNAUTHORIZED: 10014,
  WRONG_APP_SECRET: 10015,
  RATE_LIMITED: 99991400,
  IP_DENIED: 99991401,
  MONTHLY_QUOTA_EXCEEDED: 99991403,
  POINTS_DEPLETED: 99991406,
  TOKEN_MISSING: 99991661,
  TOKEN_INVALID: 99991663,
  APP_TOKEN_INVALID: 99991664,
  TENANT_CODE_INVALID: 99991665,
  USER_TOKEN_INVALID: 99991668,
  TOKEN_MALFORMED: 99991671,
  SCOPE_MISSING: 99991672,
  APP_UNAVAILABLE: 99991673,
  // approval v4
  PARAM_INVALID: 1390001,
  APPROVAL_CODE_NOT_FOUND: 1390002,
  INSTANCE_CODE_NOT_FOUND: 1390003,
  TENANT_NOT_FOUND_OR_TOO_SOON: 1390014,
  APPROVAL_DELETED: 1390016,
  RETRY_LATER: 1395001,
} as const;

const C = FEISHU_CODES;

const RETRY_CODES: ReadonlyMap<number, string> = new Map([
  [C.RATE_LIMITED, 'rate limited (99991400)'],
  [C.RETRY_LATER, 'Feishu asks to retry later (1395001)'],
  // The current doc says "tenant_id not found", an older mirror "same instance synced too soon"; a
  // retry with backoff is harmless in the first case and right in the second (reference §1.5).
  [
    C.TENANT_NOT_FOUND_OR_TOO_SOON,
    'ambiguous 1390014 (tenant not found / same instance too soon); retrying later',
  ],
  // Token service hiccups, and the generic "internal error, retry later" codes of the error-code page.
  [C.GET_APP_TOKEN_FAILED, 'token service failed to issue an app token (10012)'],
  [C.GET_TENANT_TOKEN_FAILED, 'token service failed to issue a tenant token (10013)'],
  [1500, 'Feishu internal error (1500)'],
  [5000, 'Feishu internal error (5000)'],
  [10101, 'Feishu internal error (10101)'],
  [10500, 'Feishu internal error (10500)'],
]);

const RENEW_CODES: ReadonlyMap<number, string> = new Map([
  [C.TOKEN_INVALID, 'tenant_access_token invalid or expired (99991663)'],
  [C.TOKEN_MISSING, 'request carried no usable token (99991661)'],
  [C.TENANT_CODE_INVALID, 'tenant_access_token rejected (99991665)'],
]);

const STOP_CODES: ReadonlyMap<number, string> = new Map([
  [C.SCOPE_MISSING, 'the app lacks a required scope (99991672); enable it in the developer console'],
  [C.USER_TOKEN_INVALID, 'the API refused the token type (99991668)'],
  [
    C.APP_UNAUTHORIZED,
    'the app is not usable in this tenant (10014); check app_id/app_secret and the app status',
  ],
  [C.WRONG_APP_SECRET, 'wrong app_secret (10015)'],
  [C.APP_TOKEN_INVALID, 'app_access_token invalid (99991664)'],
  [C.TOKEN_MALFORMED, 'malformed token (99991671)'],
  [C.APP_UNAVAILABLE, 'the app is unavailable in this tenant (99991673)'],
  [C.IP_DENIED, 'this IP is denied by the app settings (99991401)'],
]);

// HTTP 429 like the rate limit, but not a rate limit: branch on the code (beyond §3.3).
const QUOTA_CODES: ReadonlyMap<number, string> = new Map([
  [C.MONTHLY_QUOTA_EXCEEDED, "the tenant's monthly API call quota is used up (99991403)"],
  [C.POINTS_DEPLETED, 'the Lark advanced-API points are used up (99991406)'],
]);

const PARK_CODES: ReadonlyMap<number, string> = new Map([
  [C.PARAM_INVALID, 'Feishu rejected the payload (1390001)'],
  [C.APPROVAL_CODE_NOT_FOUND, 'approval code not found (1390002)'],
  [C.INSTANCE_CODE_NOT_FOUND, 'instance not found (1390003)'],
  [C.APPROVAL_DELETED, 'the approval definition is deleted (1390016)'],
]);

export function classifyFeishuFailure(failure: FeishuFailure): Classification {
  const { httpStatus, code, network, endpoint = 'api' } = failure;
  if (network !== undefined) return { disposition: 'retry', reason: `network ${network}` };

  if (code !== undefined && code !== 0) {
    if (code === C.TOKEN_ENDPOINT_INVALID_PARAM && endpoint === 'token') {
      return { disposition: 'stop', reason: 'the token endpoint rejected app_id/app_secret (10003)' };
    }
    const known =
      lookup(QUOTA_CODES, code, 'quota') ??
      lookup(RETRY_CODES, code, 'retry') ??
      lookup(RENEW_CODES, code, 'renew-token') ??
      lookup(STOP_CODES, code, 'stop') ??
      lookup(PARK_CODES, code, 'park');
    if (known) return known;
    if (httpStatus === 429) return { disposition: 'retry', reason: `HTTP 429 with code ${code}` };
    if (httpStatus !== undefined && httpStatus >= 500)
      return { disposition: 'retry', reason: `HTTP ${httpStatus} with code ${code}` };
    // A credential problem we do not know by number must not be hammered or blamed on one payload.
    if (endpoint === 'token')
      return { disposition: 'stop', reason: `the token endpoint answered code ${code}` };
    return { disposition: 'park', reason: `unrecognised Feishu code ${code}` };
  }

  if (httpStatus === undefined) return { disposition: 'retry', reason: 'no response' };
  // Without a Feishu code the answer came from something in between (a gateway, a proxy, a token the
  // gateway no longer knows), not from the approval API: only a definitive code stops pushing. A
  // stray 401 gets a fresh token; every other status is retried with backoff, except those that
  // describe the request itself, which no retry can fix.
  if (httpStatus === 401 && endpoint === 'api')
    return { disposition: 'renew-token', reason: 'HTTP 401 without a Feishu code' };
  if (httpStatus === 400 || httpStatus === 413 || httpStatus === 414 || httpStatus === 422)
    return { disposition: 'park', reason: `HTTP ${httpStatus} without a Feishu code` };
  if (httpStatus >= 400) return { disposition: 'retry', reason: `HTTP ${httpStatus} without a Feishu code` };
  return { disposition: 'retry', reason: `unexpected response (HTTP ${httpStatus})` };
}

function lookup(
  table: ReadonlyMap<number, string>,
  code: number,
  disposition: Disposition,
): Classification | undefined {
  const reason = table.get(code);
  return reason === undefined ? undefined : { disposition, reason };
}
