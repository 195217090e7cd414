// Request handling of the fake Feishu: the token endpoint, the approval endpoints (instances, check,
// definitions in approvals.ts) and contact batch_get_id (directory.ts), with their gateway checks
// (faults, token, scope, monthly quota, rate windows) in the order a real gateway applies them, and
// the /_fake/ admin endpoints that let another process drive and inspect it (admin-routes.ts).
// Invariant: every answer uses the status, code and msg the reference documents for the situation;
// where it documents none, the choice is stated next to the code that makes it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ExternalInstance } from '../external-instance.js';
import {
  checkBodySchema,
  describeSchemaIssues,
  externalInstanceSchema,
  payloadLimitViolations,
  tokenRequestSchema,
} from '../payload-schema.js';
import { MESSAGE_SEND_PATH, MESSAGE_UPDATE_PATH } from '../bot-message-schema.js';
import { adminRoute } from './admin-routes.js';
import { parseJson, type FakeContext, type Outcome, type PushRecord } from './fake-context.js';

const TOKEN_PATH = '/open-apis/auth/v3/tenant_access_token/internal';
const APPROVAL_SCOPES = ['approval:approval', 'approval:external_approval'];
const INSTANCES = '/open-apis/approval/v4/external_instances';
const APPROVALS = '/open-apis/approval/v4/external_approvals';
const BATCH_GET_ID = '/open-apis/contact/v3/users/batch_get_id';

interface Route {
  /** Rate-window and scope key: method and path pattern. */
  name: string;
  scopes: readonly string[];
  /** Counts toward the monthly quota (approval APIs do; contact does not, §3.1). */
  counted: boolean;
  /** The last path segment, for routes with a code in the path. */
  param?: string;
}

function routeOf(method: string, path: string): Route | undefined {
  if (method === 'POST' && path === INSTANCES)
    return {
      name: 'POST external_instances',
      scopes: ['approval:approval', 'approval:external_instance'],
      counted: true,
    };
  if (method === 'POST' && path === `${INSTANCES}/check`)
    return {
      name: 'POST external_instances/check',
      scopes: ['approval:approval', 'approval:approval:readonly', 'approval:external_instance'],
      counted: true,
    };
  if (method === 'POST' && path === APPROVALS)
    return { name: 'POST external_approvals', scopes: APPROVAL_SCOPES, counted: true };
  if ((method === 'GET' || method === 'DELETE') && path.startsWith(`${APPROVALS}/`)) {
    const param = decodeURIComponent(path.slice(APPROVALS.length + 1));
    if (param === '' || param.includes('/')) return undefined;
    return {
      name: `${method} external_approvals/:code`,
      scopes: ['approval:approval', 'approval:approval:readonly', 'approval:external_approval'],
      counted: true,
      param,
    };
  }
  if (method === 'GET' && path === APPROVALS)
    return { name: 'GET external_approvals', scopes: APPROVAL_SCOPES, counted: true };
  // The bot message APIs name approval:approval:readonly as their scope and count toward the month
  // like every approval API (feishu-beyond-instances.md §4.2, §4.10).
  if (method === 'POST' && path === MESSAGE_SEND_PATH)
    return {
      name: 'POST message/send',
      scopes: ['approval:approval', 'approval:approval:readonly'],
      counted: true,
    };
  if (method === 'POST' && path === MESSAGE_UPDATE_PATH)
    return {
      name: 'POST message/update',
      scopes: ['approval:approval', 'approval:approval:readonly'],
      counted: true,
    };
  if (method === 'POST' && path === BATCH_GET_ID)
    return { name: 'POST users/batch_get_id', scopes: ['contact:user.id:readonly'], counted: false };
  return undefined;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

const ok = (data: unknown): Outcome => ({ status: 200, body: { code: 0, msg: 'success', data } });
const fail = (status: number, code: number, msg: string): Outcome => ({ status, body: { code, msg } });
const invalid = (detail: string): Outcome => fail(400, 1390001, `param is invalid: ${detail}`);
const INVALID_TOKEN_MSG =
  'Invalid access token for authorization. Please make a request with token attached.';

export async function handleRequest(
  ctx: FakeContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://fake');
  const text = await readBody(req);
  const method = req.method ?? 'GET';
  const route = routeOf(method, url.pathname);
  let outcome: Outcome;
  if (url.pathname.startsWith('/_fake/')) outcome = await adminRoute(ctx, method, url.pathname, text);
  else if (method === 'POST' && url.pathname === TOKEN_PATH) outcome = token(ctx, text);
  else if (route) outcome = await api(ctx, req, url, route, text);
  else outcome = { status: 404, text: '404 page not found' };

  if (url.pathname === INSTANCES && method === 'POST') recordPush(ctx, text, outcome);
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

async function api(
  ctx: FakeContext,
  req: IncomingMessage,
  url: URL,
  route: Route,
  text: string,
): Promise<Outcome> {
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
    return fail(400, 99991663, INVALID_TOKEN_MSG);
  }
  // A valid token on an endpoint the app may not call: the misleading 99991663 of §3.4 (the list
  // and delete of definitions always; other paths when injected).
  if (
    route.name === 'GET external_approvals' ||
    route.name === 'DELETE external_approvals/:code' ||
    (ctx.faults.current().invalidTokenOn ?? []).includes(url.pathname)
  ) {
    ctx.counters.invalidToken++;
    return fail(400, 99991663, INVALID_TOKEN_MSG);
  }
  if (!route.scopes.some((s) => ctx.scopes.has(s))) {
    ctx.counters.missingScope++;
    return missingScope(ctx, route.scopes);
  }
  if (route.counted) {
    const refused = ctx.quota.refuse(ctx.faults.current());
    if (refused) return refused;
  }
  const decision = ctx.rate.take(`${ctx.appId} ${route.name}`);
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
  const outcome = dispatch(ctx, url, route, text);
  // §3.1: only calls that succeed count toward the month.
  if (route.counted && outcome.status === 200 && (outcome.body as { code?: unknown }).code === 0)
    ctx.quota.count();
  return outcome;
}

function dispatch(ctx: FakeContext, url: URL, route: Route, text: string): Outcome {
  if (route.name === 'GET external_approvals/:code') {
    const code = route.param ?? '';
    // A code the fake was started with (approvalCodes, --any-approval-code) exists as well: it
    // accepts pushes with it, so a lookup must not call it missing.
    if (!ctx.approvals.knowsPlatformCode(code) && ctx.state.knowsApproval(code))
      return ok({ approval_code: code });
    return ctx.approvals.get(code);
  }
  const body = parseJson(text);
  if (body === undefined) return invalid('body is not valid JSON');
  switch (route.name) {
    case 'POST external_instances':
      return pushInstance(ctx, body);
    case 'POST external_instances/check': {
      ctx.counters.checks++;
      const parsed = checkBodySchema.safeParse(body);
      if (!parsed.success) return invalid(describeSchemaIssues(parsed.error));
      return ok({ diff_instances: ctx.state.check(parsed.data.instances) });
    }
    case 'POST message/send':
    case 'POST message/update': {
      const r = route.name === 'POST message/send' ? ctx.messages.send(body) : ctx.messages.update(body);
      return r.ok ? ok(r.data) : fail(r.status, r.code, r.msg);
    }
    case 'POST users/batch_get_id':
      ctx.counters.batchGetId++;
      return ctx.directory.batchGetId(Object.fromEntries(url.searchParams), body, ctx.scopes);
    default:
      return createApproval(ctx, url, body);
  }
}

/** 99991672 with the scope-request link the real answer carries (feishu-beyond-instances.md §3.5). */
function missingScope(ctx: FakeContext, scopes: readonly string[]): Outcome {
  const link = `${ctx.origin()}/app/${ctx.appId}/auth?q=${scopes.map(encodeURIComponent).join(',')}&op_from=openapi&token_type=tenant`;
  return {
    status: 400,
    body: {
      code: 99991672,
      msg: `Access denied. One of the following scopes is required: [${scopes.join(', ')}].应用尚未开通所需的应用身份权限：[${scopes.join(', ')}]，点击链接申请并开通任一权限即可：${link}`,
      error: {
        permission_violations: scopes.map((subject) => ({ type: 'action_scope_required', subject })),
        helps: [{ url: link, description: 'Enable any one of the scopes' }],
      },
    },
  };
}

function pushInstance(ctx: FakeContext, body: unknown): Outcome {
  const parsed = externalInstanceSchema.safeParse(body);
  if (!parsed.success) return invalid(describeSchemaIssues(parsed.error));
  // end_time may arrive as the number 0 (reference §1.2); the stored copy keeps what was sent.
  const payload = parsed.data as unknown as ExternalInstance;
  const violations = payloadLimitViolations(payload, ctx.limits);
  if (violations.length > 0) return invalid(violations.join('; '));
  // Instances name a definition by its platform code (feishu-beyond-instances.md §1.1).
  if (
    !ctx.state.knowsApproval(payload.approval_code) &&
    !ctx.approvals.knowsPlatformCode(payload.approval_code)
  )
    return invalid(`approval_code: ${payload.approval_code} not found`);
  const minInterval = ctx.faults.minSameInstanceIntervalMs;
  const last = ctx.lastAccepted.get(payload.instance_id);
  if (minInterval > 0 && last !== undefined && ctx.now() - last < minInterval) {
    ctx.counters.tooSoon++;
    return fail(400, 1395001, defaultMsg(1395001));
  }
  const before = ctx.state.instance(payload.instance_id);
  const applied = ctx.state.apply(payload);
  if (applied.ok && before && sameButUpdateTime(before, applied.stored)) ctx.counters.identicalPushes++;
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
  return ctx.approvals.upsert(body);
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

function sameButUpdateTime(a: object, b: object): boolean {
  const strip = ({ update_time: _t, ...rest }: { update_time?: unknown }) => JSON.stringify(rest);
  return strip(a) === strip(b);
}

function defaultMsg(code: number): string {
  if (code === 1395001) return 'There have been some errors. Please try again later';
  if (code === 1390001) return 'param is invalid';
  if (code === 99991400) return 'request trigger frequency limit';
  return 'injected error';
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
