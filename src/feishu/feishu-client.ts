// HTTP access to the Feishu Open API for third-party approvals: one keep-alive undici pool, the tenant
// token, and the translation of every failure into a CdcError carrying the error table's verdict.
// Invariant: the client retries nothing except one call after a token renewal (99991663/99991661); it
// does no rate limiting (the sync stage owns both), and neither the app secret nor a token ever
// appears in an error message or detail.
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { CdcError, isFeishuError } from '../errors.js';
import type { FeishuErrorCode, FeishuErrorDetails } from '../errors.js';
import { classifyFeishuFailure, FEISHU_CODES } from './error-table.js';
import type { NetworkFailure } from './error-table.js';
import type { ExternalInstance } from './external-instance.js';
import { MESSAGE_SEND_PATH, MESSAGE_UPDATE_PATH } from './bot-message-schema.js';
import type { MessageSendBody, MessageUpdateBody } from './bot-message-schema.js';
import { diffInstanceSchema } from './payload-schema.js';
import type { CheckInstance, DiffInstance, ExternalApprovalBody } from './payload-schema.js';
import { TENANT_TOKEN_PATH, TokenManager } from './token-manager.js';
import type { IssuedToken, RenewReason } from './token-manager.js';

export const INSTANCES_PATH = '/open-apis/approval/v4/external_instances';
export const CHECK_PATH = '/open-apis/approval/v4/external_instances/check';
export const APPROVALS_PATH = '/open-apis/approval/v4/external_approvals';
export const BATCH_GET_ID_PATH = '/open-apis/contact/v3/users/batch_get_id';

export interface BatchGetIdEntry {
  user_id?: string;
  email?: string;
  mobile?: string;
}

export interface FeishuClientOptions {
  baseUrl: string;
  appId: string;
  appSecret: string;
  /** Connect, headers and body timeout of one request (default 10 s). */
  requestTimeoutMs?: number;
  connections?: number;
  renewBeforeMs?: number;
  now?: () => number;
  onTokenRenew?: (event: { reason: RenewReason; expiresAt: number }) => void;
  /** A call that counts toward the tenant's monthly quota succeeded (approval APIs, not contact). */
  onCountedCall?: (endpoint: string) => void;
}

export interface RateLimitInfo {
  limit?: string;
  resetSeconds?: number;
}

export interface PushResult {
  accepted: true;
  rateLimit?: RateLimitInfo;
}

/** The `details` of every CdcError this client throws (typed in errors.ts, per code). */
export type { FeishuErrorDetails };

interface JsonResponse {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Record<string, unknown> | undefined;
}

export class FeishuClient {
  readonly #pool: Pool;
  readonly #pathPrefix: string;
  readonly #appId: string;
  readonly #appSecret: string;
  readonly #tokens: TokenManager;
  readonly #onCountedCall: ((endpoint: string) => void) | undefined;

  constructor(options: FeishuClientOptions) {
    const base = new URL(options.baseUrl);
    const timeout = options.requestTimeoutMs ?? 10_000;
    this.#pathPrefix = base.pathname.replace(/\/+$/, '');
    this.#appId = options.appId;
    this.#appSecret = options.appSecret;
    this.#onCountedCall = options.onCountedCall;
    this.#pool = new Pool(base.origin, {
      connections: options.connections ?? 8,
      keepAliveTimeout: 30_000,
      connect: { timeout },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    this.#tokens = new TokenManager({
      fetchToken: () => this.#fetchToken(),
      ...(options.renewBeforeMs === undefined ? {} : { renewBeforeMs: options.renewBeforeMs }),
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(options.onTokenRenew === undefined ? {} : { onRenew: options.onTokenRenew }),
    });
  }

  /** Tokens fetched so far (for metrics and tests). */
  get tokenRenewals(): number {
    return this.#tokens.renewals;
  }

  async pushInstance(payload: ExternalInstance): Promise<PushResult> {
    const res = await this.#callApi(INSTANCES_PATH, payload);
    const rateLimit = rateLimitOf(res.headers);
    return rateLimit ? { accepted: true, rateLimit } : { accepted: true };
  }

  async checkInstances(instances: CheckInstance[]): Promise<DiffInstance[]> {
    const res = await this.#callApi(CHECK_PATH, { instances });
    const data = res.body?.data as { diff_instances?: unknown } | undefined;
    const parsed = diffInstanceSchema.array().safeParse(data?.diff_instances ?? []);
    if (!parsed.success) {
      throw this.#error('FEISHU_HTTP', CHECK_PATH, 'check answered an unreadable diff_instances', {
        httpStatus: res.status,
        ...classifyFeishuFailure({ httpStatus: res.status }),
      });
    }
    return parsed.data;
  }

  /**
   * Creates or updates (by its custom approval_code) a third-party approval definition; returns the
   * platform code Feishu answers with, the one GET and instances need (feishu-beyond-instances.md §1.1).
   */
  async createApproval(
    body: ExternalApprovalBody,
    query: {
      user_id_type?: 'open_id' | 'union_id' | 'user_id';
      department_id_type?: 'department_id' | 'open_department_id';
    } = {},
  ): Promise<{ approval_code: string }> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, value);
    const path = search.size > 0 ? `${APPROVALS_PATH}?${search.toString()}` : APPROVALS_PATH;
    const res = await this.#callApi(path, body);
    const data = res.body?.data as { approval_code?: unknown } | undefined;
    if (typeof data?.approval_code !== 'string' || data.approval_code === '') {
      throw this.#error('FEISHU_HTTP', APPROVALS_PATH, 'external_approvals answered no approval_code', {
        httpStatus: res.status,
        disposition: 'stop',
        reason: 'external_approvals answered no approval_code',
      });
    }
    return { approval_code: data.approval_code };
  }

  /** Reads a definition by its platform code; the answer's approval_code is the custom code (§1.1). */
  async getApproval(platformCode: string): Promise<Record<string, unknown>> {
    const res = await this.#callApi(
      `${APPROVALS_PATH}/${encodeURIComponent(platformCode)}`,
      undefined,
      'GET',
    );
    const data = res.body?.data;
    return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
  }

  /**
   * contact v3 users/batch_get_id (feishu-api.md §7.2): at most 50 emails and 50 mobiles; one entry
   * per input, echoing it, without user_id when nobody matched.
   */
  async batchGetId(
    request: { emails?: string[]; mobiles?: string[]; include_resigned?: boolean },
    userIdType: 'open_id' | 'union_id' | 'user_id',
  ): Promise<BatchGetIdEntry[]> {
    const res = await this.#callApi(`${BATCH_GET_ID_PATH}?user_id_type=${userIdType}`, request);
    const list = (res.body?.data as { user_list?: unknown } | undefined)?.user_list;
    if (!Array.isArray(list)) return [];
    return list.flatMap((e: unknown) => {
      if (typeof e !== 'object' || e === null) return [];
      const { user_id, email, mobile } = e as Record<string, unknown>;
      return [
        {
          ...(typeof user_id === 'string' && user_id !== '' ? { user_id } : {}),
          ...(typeof email === 'string' ? { email } : {}),
          ...(typeof mobile === 'string' ? { mobile } : {}),
        },
      ];
    });
  }

  /** Sends an approval bot message; returns its message_id (a string: it exceeds 2^53, §4.9). */
  async sendMessage(body: MessageSendBody): Promise<{ messageId: string }> {
    const res = await this.#callApi(MESSAGE_SEND_PATH, body);
    const data = res.body?.data as { message_id?: unknown } | undefined;
    const id = data?.message_id;
    if (typeof id !== 'string' || !/^\d+$/.test(id)) {
      throw this.#error('FEISHU_HTTP', MESSAGE_SEND_PATH, 'message/send answered without a message_id', {
        httpStatus: res.status,
        ...classifyFeishuFailure({ httpStatus: res.status }),
      });
    }
    return { messageId: id };
  }

  /** Updates a 1008 card (status, title and DETAIL text after the decision). */
  async updateMessage(body: MessageUpdateBody): Promise<void> {
    await this.#callApi(MESSAGE_UPDATE_PATH, body);
  }

  /**
   * Whether Feishu knows an approval definition by this code (the code instances are pushed with):
   * false on 1390002 "approval code not found"; any other failure throws.
   */
  async approvalExists(approvalCode: string): Promise<boolean> {
    try {
      await this.getApproval(approvalCode);
      return true;
    } catch (err) {
      if (isFeishuError(err) && err.details.feishuCode === 1390002) return false;
      throw err;
    }
  }

  /** Fetches a token, so bad credentials surface at startup rather than at the first push. */
  async verifyCredentials(): Promise<void> {
    await this.#tokens.get();
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }

  async #callApi(path: string, body: unknown, method: 'GET' | 'POST' = 'POST'): Promise<JsonResponse> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.#tokens.get();
      try {
        return await this.#send(method, path, body, token);
      } catch (err) {
        if (isFeishuError(err) && err.details.disposition === 'renew-token') {
          if (attempt === 0) {
            this.#tokens.invalidate(token);
            continue;
          }
          // A fresh token got the same answer: not an expired token but an endpoint this app may not
          // call (feishu-beyond-instances.md §3.4). No token loop: stop and say which endpoint.
          throw this.#error(
            'FEISHU_PERMISSION',
            path,
            `${pathOnly(path)} answered ${String(err.details.feishuCode)} again with a fresh token: a permission or endpoint problem, not an expired token`,
            {
              ...err.details,
              disposition: 'stop',
              reason: `permission or endpoint problem on ${pathOnly(path)} (${String(err.details.feishuCode)} after a fresh token)`,
            },
          );
        }
        throw err;
      }
    }
  }

  async #send(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    token: string | undefined,
  ): Promise<JsonResponse> {
    const res = await this.#request(method, path, body, token);
    const code = typeof res.body?.code === 'number' ? res.body.code : undefined;
    if (res.status === 200 && code === 0) {
      // feishu-beyond-instances.md §3.1: approval APIs count, contact does not; failed calls do not.
      if (pathOnly(path).startsWith('/open-apis/approval/')) this.#onCountedCall?.(pathOnly(path));
      return res;
    }
    const msg = typeof res.body?.msg === 'string' ? this.#scrub(res.body.msg, token) : undefined;
    const verdict = classifyFeishuFailure({
      httpStatus: res.status,
      ...(code === undefined ? {} : { code }),
    });
    const resetSeconds = rateLimitOf(res.headers)?.resetSeconds;
    const details: Omit<FeishuErrorDetails, 'endpoint'> = {
      httpStatus: res.status,
      ...(code === undefined ? {} : { feishuCode: code }),
      ...(msg === undefined ? {} : { feishuMsg: msg }),
      ...verdict,
      ...(resetSeconds === undefined ? {} : { retryAfterMs: resetSeconds * 1000 }),
    };
    const scopeLink = code === FEISHU_CODES.SCOPE_MISSING ? scopeLinkOf(res.body) : undefined;
    if (scopeLink !== undefined) details.scopeLink = scopeLink;
    const errorCode: FeishuErrorCode =
      verdict.disposition === 'quota'
        ? 'FEISHU_QUOTA'
        : res.status === 429 || code === 99991400
          ? 'FEISHU_RATE_LIMITED'
          : verdict.disposition === 'renew-token'
            ? 'FEISHU_TOKEN'
            : code === undefined
              ? 'FEISHU_HTTP'
              : 'FEISHU_API';
    const what =
      code === undefined ? `HTTP ${res.status}` : `HTTP ${res.status} code ${code}${msg ? ` ${msg}` : ''}`;
    const link =
      scopeLink !== undefined && !what.includes(scopeLink) ? `; request the scope at ${scopeLink}` : '';
    throw this.#error(errorCode, path, `${pathOnly(path)} failed: ${what}${link}`, details);
  }

  async #fetchToken(): Promise<IssuedToken> {
    const res = await this.#request(
      'POST',
      TENANT_TOKEN_PATH,
      { app_id: this.#appId, app_secret: this.#appSecret },
      undefined,
    );
    const body = res.body;
    const code = typeof body?.code === 'number' ? body.code : undefined;
    const token = body?.tenant_access_token;
    const expire = body?.expire;
    // The token endpoint answers errors with HTTP 200 too (reference §5.1): trust only `code`.
    if (res.status === 200 && code === 0 && typeof token === 'string' && typeof expire === 'number') {
      return { token, expireSeconds: expire };
    }
    const msg = typeof body?.msg === 'string' ? this.#scrub(body.msg, undefined) : undefined;
    const verdict = classifyFeishuFailure({
      httpStatus: res.status,
      endpoint: 'token',
      ...(code === undefined ? {} : { code: code === 0 ? -1 : code }),
    });
    const what =
      code === undefined
        ? `HTTP ${res.status}`
        : code === 0
          ? 'a response without a token'
          : `code ${code}${msg ? ` ${msg}` : ''}`;
    throw this.#error(
      'FEISHU_TOKEN',
      TENANT_TOKEN_PATH,
      `tenant_access_token request for app ${this.#appId} failed: ${what}`,
      {
        httpStatus: res.status,
        ...(code === undefined ? {} : { feishuCode: code }),
        ...(msg === undefined ? {} : { feishuMsg: msg }),
        ...verdict,
      },
    );
  }

  async #request(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    token: string | undefined,
  ): Promise<JsonResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let res: Dispatcher.ResponseData;
    let text: string;
    try {
      res = await this.#pool.request({
        method,
        path: this.#pathPrefix + path,
        headers,
        ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
      });
      text = await res.body.text();
    } catch (err) {
      const network = networkFailureOf(err);
      const code: FeishuErrorCode = network === 'timeout' ? 'FEISHU_TIMEOUT' : 'FEISHU_NETWORK';
      throw this.#error(
        code,
        path,
        `${pathOnly(path)} failed: network ${network} (${errorCodeOf(err) ?? 'unknown'})`,
        {
          ...classifyFeishuFailure({ network }),
        },
        err,
      );
    }
    let parsed: Record<string, unknown> | undefined;
    try {
      const value: unknown = JSON.parse(text);
      parsed = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.statusCode, headers: res.headers, body: parsed };
  }

  #error(
    code: FeishuErrorCode,
    path: string,
    message: string,
    details: Omit<FeishuErrorDetails, 'endpoint'>,
    cause?: unknown,
  ): CdcError<FeishuErrorCode> {
    const full: FeishuErrorDetails = { endpoint: pathOnly(path), ...details };
    return new CdcError(code, this.#scrub(message, undefined), {
      details: { ...full },
      ...(cause === undefined ? {} : { cause }),
    });
  }

  /** Feishu echoes request fragments in some messages; make sure no credential rides along. */
  #scrub(text: string, token: string | undefined): string {
    let out = this.#appSecret ? text.split(this.#appSecret).join('[redacted]') : text;
    if (token) out = out.split(token).join('[redacted]');
    return out.replace(/\bt-[A-Za-z0-9._-]{8,}/g, '[redacted]');
  }
}

/** The scope-request link of a 99991672 answer: error.helps[].url, else the URL in msg. */
export function scopeLinkOf(body: Record<string, unknown> | undefined): string | undefined {
  const helps = (body?.error as { helps?: unknown } | undefined)?.helps;
  if (Array.isArray(helps)) {
    for (const h of helps) {
      const url = (h as { url?: unknown } | null)?.url;
      if (typeof url === 'string' && url.includes('/auth')) return url;
    }
  }
  const msg = typeof body?.msg === 'string' ? body.msg : '';
  return /https?:\/\/\S+\/app\/\S+\/auth\?[^\s，。]+/.exec(msg)?.[0];
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

function headerValue(headers: JsonResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function rateLimitOf(headers: JsonResponse['headers']): RateLimitInfo | undefined {
  const limit = headerValue(headers, 'x-ogw-ratelimit-limit');
  const reset = headerValue(headers, 'x-ogw-ratelimit-reset');
  const resetSeconds = reset !== undefined && /^\d+(\.\d+)?$/.test(reset.trim()) ? Number(reset) : undefined;
  if (limit === undefined && resetSeconds === undefined) return undefined;
  return {
    ...(limit === undefined ? {} : { limit }),
    ...(resetSeconds === undefined ? {} : { resetSeconds }),
  };
}

function errorCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function networkFailureOf(err: unknown): NetworkFailure {
  const code = errorCodeOf(err) ?? errorCodeOf((err as { cause?: unknown } | null)?.cause);
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'timeout';
    case 'ECONNREFUSED':
      return 'refused';
    default:
      return 'reset';
  }
}
