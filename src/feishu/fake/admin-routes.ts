// The fake Feishu's /_fake/ endpoints, which let a test or another process drive and inspect it:
// what it holds and recorded, injected faults, the quota, the directory, a reset, and the user's side
// of the bot (their cards, a click on a card's button). Invariant: none of them is a Feishu API; no
// gateway check (token, scope, rate, quota) applies to them, and none is counted as a request to one.
import { z } from 'zod';
import { describeSchemaIssues } from '../payload-schema.js';
import { actSchema } from './bot-messages.js';
import { directoryUserSchema } from './directory.js';
import { faultSettingsSchema } from './faults.js';
import { parseJson, type FakeContext, type Outcome } from './fake-context.js';

/** Answers a /_fake/ request. */
export async function adminRoute(
  ctx: FakeContext,
  method: string,
  path: string,
  text: string,
): Promise<Outcome> {
  if (path.startsWith('/_fake/messages') || path.startsWith('/_fake/users/'))
    return userPlay(ctx, method, path, text);
  return admin(ctx, method, path, text);
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
    case 'GET /_fake/approvals':
      return { status: 200, body: ctx.approvals.definitions() };
    case 'GET /_fake/quota':
      return {
        status: 200,
        body: { used: ctx.quota.used, refused: ctx.quota.refused, ...ctx.faults.current() },
      };
    case 'POST /_fake/quota/renew':
      // The 1st of the month: the counter restarts and an injected exhaustion ends.
      ctx.quota.renew();
      ctx.faults.set({ quotaExhausted: null });
      return { status: 200, body: { used: ctx.quota.used } };
    case 'POST /_fake/directory': {
      const parsed = directoryUserSchema.array().safeParse(parseJson(text));
      if (!parsed.success) return { status: 400, body: { error: describeSchemaIssues(parsed.error) } };
      ctx.directory.replace(parsed.data);
      return { status: 200, body: { users: parsed.data.length } };
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
