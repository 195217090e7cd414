// Raw HTTP access to the fake for tests that need to see exactly what it answers (status, code,
// headers), without the client's interpretation in between.
import type { FakeFeishu } from '../../src/feishu/fake/fake-feishu.js';

export interface RawAnswer {
  status: number;
  body: any;
  headers: Headers;
}

export async function rawPost(
  fake: FakeFeishu,
  path: string,
  body: unknown,
  token?: string,
  signal?: AbortSignal,
): Promise<RawAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(fake.url + path, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // plain-text answers (gateway errors) stay strings
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export async function rawGet(fake: FakeFeishu, path: string): Promise<RawAnswer> {
  const res = await fetch(fake.url + path);
  return { status: res.status, body: await res.json(), headers: res.headers };
}

export async function fetchToken(fake: FakeFeishu): Promise<string> {
  const answer = await rawPost(fake, '/open-apis/auth/v3/tenant_access_token/internal', {
    app_id: fake.appId,
    app_secret: fake.appSecret,
  });
  if (answer.body?.code !== 0) throw new Error(`token request failed: ${JSON.stringify(answer.body)}`);
  return answer.body.tenant_access_token as string;
}

export const PUSH = '/open-apis/approval/v4/external_instances';
export const CHECK = '/open-apis/approval/v4/external_instances/check';
export const APPROVALS = '/open-apis/approval/v4/external_approvals';
export const TOKEN = '/open-apis/auth/v3/tenant_access_token/internal';

/** Any method with a token, for the GET/DELETE endpoints of the API (not the /_fake/ ones). */
export async function rawCall(
  fake: FakeFeishu,
  method: 'GET' | 'DELETE' | 'POST',
  path: string,
  token: string,
  body?: unknown,
): Promise<RawAnswer> {
  const res = await fetch(fake.url + path, {
    method,
    headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

export const BATCH_GET_ID = '/open-apis/contact/v3/users/batch_get_id';
