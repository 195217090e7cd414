// Request handling of the fake Feishu: the token endpoint, the three approval endpoints with their
// gateway checks (faults, token, scope, rate windows) in the order a real gateway applies them, and
// the /_fake/ admin endpoints that let another process drive and inspect it.
// Invariant: every answer uses the status, code and msg the reference documents for the situation;
// where it documents none, the choice is stated next to the code that makes it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ExternalInstance } from '../external-instance.js';
import {
  checkBodySchema,
  describeSchemaIssues,
  externalApprovalSchema,
  externalInstanceSchema,
  payloadLimitViolations,
  tokenRequestSchema,
} from '../payload-schema.js';
import type { PayloadLimits } from '../payload-schema.js';
import { MESSAGE_SEND_PATH, MESSAGE_UPDATE_PATH } from '../bot-message-schema.js';
import { actSchema } from './bot-messages.js';
import type { FakeBotMessages } from './bot-messages.js';
import { faultSettingsSchema } from './faults.js';
import type { Faults } from './faults.js';
import type { RateWindows } from './rate-windows.js';
import type { FakeState } from './state.js';
import type { TokenStore } from './token-store.js';

export interface PushRecord {
  /** Fake clock time the push arrived. */
  at: number;
  instance_id?: string;
  update_time?: string;
  update_mode?: string;
  status?: string;
  accepted: boolean;
  /** HTTP status answered; 0 when the socket was reset instead. */
  httpStatus: number;
  code?: number;
  msg?: string;
}

export interface FakeCounters {
  requests: number;
  tokenRequests: number;
  tokensIssued: number;
  tooManyRequests: number;
  pushesAccepted: number;
  pushesRejected: number;
  checks: number;
  missingToken: number;
  invalidToken: number;
  missingScope: number;
  injectedErrors: number;
  injectedResets: number;
  tooSoon: number;
}

export function emptyCounters(): FakeCounters {
  return {
    requests: 0,
    tokenRequests: 0,
    tokensIssued: 0,
    tooManyRequests: 0,
    pushesAccepted: 0,
    pushesRejected: 0,
    checks: 0,
    missingToken: 0,
    invalidToken: 0,
    missingScope: 0,
    injectedErrors: 0,
    injectedResets: 0,
    tooSoon: 0,
  };
}

export interface FakeContext {
  appId: string;
  appSecret: string;
  scopes: ReadonlySet<string>;
  limits: Partial<PayloadLimits>;
  now: () => number;
  state: FakeState;
  tokens: TokenStore;
  rate: RateWindows;
  faults: Faults;
  pushes: PushRecord[];
  counters: FakeCounters;
  lastAccepted: Map<string, number>;
  messages: FakeBotMessages;
  reset: () => void;
}

interface Outcome {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
}

const TOKEN_PATH = '/open-apis/auth/v3/tenant_access_token/internal';
const ROUTES: Record<string, { scopes: readonly string[] }> = {
  '/open-apis/approval/v4/external_instances': {
    scopes: ['approval:approval', 'approval:external_instance'],
  },
  '/open-apis/approval/v4/external_instances/check': {
    scopes: ['approval:approval', 'approval:approval:readonly', 'approval:external_instance'],
  },
  '/open-apis/approval/v4/external_approvals': {
    scopes: ['approval:approval', 'approval:external_approval'],
  },
  // The bot message APIs name approval:approval:readonly as their scope (feishu-beyond-instances §4.2).
  [MESSAGE_SEND_PATH]: { scopes: ['approval:approval', 'approval:approval:readonly'] },
  [MESSAGE_UPDATE_PATH]: { scopes: ['approval:approval', 'approval:approval:readonly'] },
};
const INSTANCES = '/open-apis/approval/v4/external_instances';
const MAX_BODY_BYTES = 4 * 1024 * 1024;

const ok = (data: unknown): Outcome => ({ status: 200, body: { code: 0, msg: 'success', data } });
const fail = (status: number, code: number, msg: string): Outcome => ({ status, body: { code, msg } });
const invalid = (detail: string): Outcome => fail(400, 1390001, `param is invalid: ${detail}`);

export async function handleRequest(
  ctx: FakeContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://fake');
  const text = await readBody(req);
  let outcome: Outcome;
  if (url.pathname.startsWith('/_fake/messages') || url.pathname.startsWith('/_fake/users/'))
    outcome = await userPlay(ctx, req.method ?? 'GET', url.pathname, text);
  else if (url.pathname.startsWith('/_fake/')) outcome = admin(ctx, req.method ?? 'GET', url.pathname, text);
  else if (req.method !== 'POST') outcome = { status: 404, text: '404 page not found' };
  else if (url.pathname === TOKEN_PATH) outcome = token(ctx, text);
  else if (ROUTES[url.pathname]) outcome = await api(ctx, req, url, text);
  else outcome = { status: 404, text: '404 page not found' };

  if (url.pathname === INSTANCES && req.method === 'POST') recordPush(ctx, text, outcome);
  if (outcome.reset) {
    req.socket.destroy();
    return;
  }
  if (res.destroyed) return;
  const payload = outcome.text ?? JSON.stringify(outcome.body ?? {});
  res.writeHead(outcome.status, {
    'content-type':
      outcome.text === undefined ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
    ...outcome.headers,
  });
  res.end(payload);
}

function token(ctx: FakeContext, text: string): Outcome {
  ctx.counters.requests++;
  ctx.counters.tokenRequests++;
  if (ctx.faults.down) return { status: 503, text: 'Service Unavailable' };
  // Reference §5.1: the token endpoint answers credential errors with HTTP 200 and a code.
  const parsed = tokenRequestSchema.safeParse(parseJson(text));
  if (!parsed.success || parsed.data.app_id !== ctx.appId)
    return { status: 200, body: { code: 10003, msg: 'invalid param' } };
  if (parsed.data.app_secret !== ctx.appSecret)
    return { status: 200, body: { code: 10015, msg: 'wrong app secret' } };
  const before = ctx.tokens.issued;
  const issued = ctx.tokens.issue();
  ctx.counters.tokensIssued += ctx.tokens.issued - before;
  return {
    status: 200,
    body: { code: 0, msg: 'ok', tenant_access_token: issued.token, expire: issued.expire },
  };
}

async function api(ctx: FakeContext, req: IncomingMessage, url: URL, text: string): Promise<Outcome> {
  ctx.counters.requests++;
  if (ctx.faults.down) return { status: 503, text: 'Service Unavailable' };
  const delay = ctx.faults.latency();
  if (delay > 0) await sleep(delay);
  const fault = ctx.faults.draw();
  if (fault.kind === 'reset') {
    ctx.counters.injectedResets++;
    return { status: 0, reset: true };
  }
  if (fault.kind === 'error') {
    ctx.counters.injectedErrors++;
    if (fault.code === undefined) return { status: fault.status, text: `${fault.status} injected fault` };
    return fail(fault.status, fault.code, fault.msg ?? defaultMsg(fault.code));
  }

  // The reference leaves the HTTP status of token errors open (§5.3); like other gateway errors
  // except 99991400 they are answered with HTTP 400 here.
  const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  if (!auth?.[1]) {
    ctx.counters.missingToken++;
    return fail(
      400,
      99991661,
      'Missing access token for authorization. Please make a request with token attached.',
    );
  }
  if (!ctx.tokens.isValid(auth[1])) {
    ctx.counters.invalidToken++;
    return fail(
      400,
      99991663,
      'Invalid access token for authorization. Please make a request with token attached.',
    );
  }
  const route = ROUTES[url.pathname];
  if (route && !route.scopes.some((s) => ctx.scopes.has(s))) {
    ctx.counters.missingScope++;
    return fail(
      400,
      99991672,
      `Access denied. One of the following scopes is required: [${route.scopes.join(', ')}]`,
    );
  }
  const decision = ctx.rate.take(`${ctx.appId} ${url.pathname}`);
  if (!decision.ok) {
    ctx.counters.tooManyRequests++;
    return {
      ...fail(429, 99991400, 'request trigger frequency limit'),
      headers: {
        'x-ogw-ratelimit-limit': String(decision.limit),
        'x-ogw-ratelimit-reset': String(decision.resetSeconds),
      },
    };
  }

  const body = parseJson(text);
  if (body === undefined) return invalid('body is not valid JSON');
  if (url.pathname === INSTANCES) return pushInstance(ctx, body);
  if (url.pathname === MESSAGE_SEND_PATH || url.pathname === MESSAGE_UPDATE_PATH) {
    const r = url.pathname === MESSAGE_SEND_PATH ? ctx.messages.send(body) : ctx.messages.update(body);
    return r.ok ? ok(r.data) : fail(r.status, r.code, r.msg);
  }
  if (url.pathname.endsWith('/check')) {
    ctx.counters.checks++;
    const parsed = checkBodySchema.safeParse(body);
    if (!parsed.success) return invalid(describeSchemaIssues(parsed.error));
    return ok({ diff_instances: ctx.state.check(parsed.data.instances) });
  }
  return createApproval(ctx, url, body);
}

function pushInstance(ctx: FakeContext, body: unknown): Outcome {
  const parsed = externalInstanceSchema.safeParse(body);
  if (!parsed.success) return invalid(describeSchemaIssues(parsed.error));
  // end_time may arrive as the number 0 (reference §1.2); the stored copy keeps what was sent.
  const payload = parsed.data as unknown as ExternalInstance;
  const violations = payloadLimitViolations(payload, ctx.limits);
  if (violations.length > 0) return invalid(violations.join('; '));
  if (!ctx.state.knowsApproval(payload.approval_code))
    return invalid(`approval_code: ${payload.approval_code} not found`);
  const minInterval = ctx.faults.minSameInstanceIntervalMs;
  const last = ctx.lastAccepted.get(payload.instance_id);
  if (minInterval > 0 && last !== undefined && ctx.now() - last < minInterval) {
    ctx.counters.tooSoon++;
    return fail(400, 1395001, defaultMsg(1395001));
  }
  const applied = ctx.state.apply(payload);
  if (!applied.ok) return invalid(`${applied.field}: ${applied.message}`);
  ctx.lastAccepted.set(payload.instance_id, ctx.now());
  return ok({ data: payload });
}

const approvalQuerySchema = z.object({
  user_id_type: z.enum(['open_id', 'union_id', 'user_id']).optional(),
  department_id_type: z.enum(['department_id', 'open_department_id']).optional(),
});

function createApproval(ctx: FakeContext, url: URL, body: unknown): Outcome {
  const query = approvalQuerySchema.safeParse(Object.fromEntries(url.searchParams));
  if (!query.success) return invalid(describeSchemaIssues(query.error));
  const parsed = externalApprovalSchema.safeParse(body);
  if (!parsed.success) return invalid(describeSchemaIssues(parsed.error));
  // Real Feishu may answer a new definition with a code of its own; the fake keeps the caller's code,
  // which the reference says stays usable.
  ctx.state.putApproval(parsed.data);
  return ok({ approval_code: parsed.data.approval_code });
}

const adminFaultsSchema = faultSettingsSchema.extend({
  expireTokens: z.boolean().optional(),
  clear: z.boolean().optional(),
});

function admin(ctx: FakeContext, method: string, path: string, text: string): Outcome {
  const key = `${method} ${path}`;
  switch (key) {
    case 'GET /_fake/instances':
      return { status: 200, body: ctx.state.instances() };
    case 'GET /_fake/pushes':
      return { status: 200, body: ctx.pushes };
    case 'GET /_fake/counters':
      return { status: 200, body: ctx.counters };
    case 'GET /_fake/faults':
      return { status: 200, body: ctx.faults.current() };
    case 'POST /_fake/faults': {
      const parsed = adminFaultsSchema.safeParse(parseJson(text) ?? {});
      if (!parsed.success) return { status: 400, body: { error: describeSchemaIssues(parsed.error) } };
      const { expireTokens, clear, ...settings } = parsed.data;
      if (clear) ctx.faults.clear();
      ctx.faults.set(settings);
      if (expireTokens) ctx.faults.expireTokens();
      return { status: 200, body: ctx.faults.current() };
    }
    case 'POST /_fake/reset':
      ctx.reset();
      return { status: 200, body: { ok: true } };
    default:
      return { status: 404, text: '404 page not found' };
  }
}

/** The user's side of the bot: their cards, and a click on a card's button (POSTs the callback). */
async function userPlay(ctx: FakeContext, method: string, path: string, text: string): Promise<Outcome> {
  if (method === 'GET' && path === '/_fake/messages') return { status: 200, body: ctx.messages.cards() };
  const view = /^\/_fake\/users\/([^/]+)\/messages$/.exec(path);
  if (method === 'GET' && view?.[1])
    return { status: 200, body: ctx.messages.viewOf(decodeURIComponent(view[1])) };
  const act = /^\/_fake\/messages\/(\d+)\/act$/.exec(path);
  if (method === 'POST' && act?.[1]) {
    const parsed = actSchema.safeParse(parseJson(text) ?? {});
    if (!parsed.success) return { status: 400, body: { error: describeSchemaIssues(parsed.error) } };
    const { reason, user_id, action_type, stale } = parsed.data;
    const answer = await ctx.messages.act(act[1], {
      action_type,
      ...(stale === undefined ? {} : { stale }),
      ...(reason === undefined ? {} : { reason }),
      ...(user_id === undefined ? {} : { user_id }),
    });
    return { status: 200, body: answer };
  }
  return { status: 404, text: '404 page not found' };
}

function recordPush(ctx: FakeContext, text: string, outcome: Outcome): void {
  const body = parseJson(text) as Partial<Record<string, unknown>> | undefined;
  const field = (name: string): string | undefined => {
    const v = body?.[name];
    return typeof v === 'string' ? v : undefined;
  };
  const answer = outcome.body as { code?: unknown; msg?: unknown } | undefined;
  const code = typeof answer?.code === 'number' ? answer.code : undefined;
  const accepted = outcome.status === 200 && code === 0;
  if (accepted) ctx.counters.pushesAccepted++;
  else ctx.counters.pushesRejected++;
  const record: PushRecord = { at: ctx.now(), accepted, httpStatus: outcome.reset ? 0 : outcome.status };
  for (const name of ['instance_id', 'update_time', 'update_mode', 'status'] as const) {
    const v = field(name);
    if (v !== undefined) record[name] = v;
  }
  if (code !== undefined) record.code = code;
  if (typeof answer?.msg === 'string' && !accepted) record.msg = answer.msg;
  ctx.pushes.push(record);
}

function defaultMsg(code: number): string {
  if (code === 1395001) return 'There have been some errors. Please try again later';
  if (code === 1390001) return 'param is invalid';
  if (code === 99991400) return 'request trigger frequency limit';
  return 'injected error';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Past the cap the body is no longer kept; the request then fails JSON parsing as invalid.
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_BODY_BYTES ? '' : Buffer.concat(chunks).toString('utf8');
}
