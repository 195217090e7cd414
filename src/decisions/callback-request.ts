// Reads one quick-approval callback body (feishu-api.md §4.2, §4.3): decrypts it where an encrypt key
// is configured, checks the token in constant time, and extracts the fields, message_id losslessly
// (it is an int64 beyond 2^53; JSON.parse would corrupt it, feishu-beyond-instances.md §4.9).
// Invariants: nothing of a body whose token does not match is returned; with an encrypt key
// configured, a plaintext body is refused (it could not have come from Feishu).
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { decryptCallback } from '../feishu/callback-crypto.js';

export interface CallbackFields {
  actionType: string;
  actionContext: string | null;
  userId: string;
  approvalCode: string | null;
  instanceId: string | null;
  taskId: string | null;
  /** Task id of a post-search action. */
  searchId: string | null;
  messageId: string | null;
  reason: string | null;
}

export type ParsedCallback =
  { ok: true; fields: CallbackFields } | { ok: false; status: 400 | 401; message: string };

const bodySchema = z.object({
  action_type: z.string().min(1),
  action_context: z.string().optional(),
  user_id: z.string().min(1),
  approval_code: z.string().optional(),
  instance_id: z.string().optional(),
  task_id: z.string().optional(),
  id: z.string().optional(),
  reason: z.string().optional(),
  token: z.string(),
});

/** Equal strings, compared in time independent of where they differ (and of the secret's length). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

export function parseCallback(raw: string, secrets: { token: string; encryptKey?: string }): ParsedCallback {
  let text = raw;
  let outer: unknown;
  try {
    outer = JSON.parse(raw);
  } catch {
    return { ok: false, status: 400, message: 'the body is not JSON' };
  }
  const encrypted =
    outer && typeof outer === 'object' && typeof (outer as { encrypt?: unknown }).encrypt === 'string'
      ? (outer as { encrypt: string }).encrypt
      : null;
  if (secrets.encryptKey) {
    if (encrypted === null) return { ok: false, status: 401, message: 'an encrypted body is required' };
    try {
      text = decryptCallback(secrets.encryptKey, encrypted);
    } catch {
      return { ok: false, status: 401, message: 'the body does not decrypt with the configured key' };
    }
  } else if (encrypted !== null) {
    return { ok: false, status: 401, message: 'an encrypted body, but no encrypt key is configured' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, status: 400, message: 'the decrypted body is not JSON' };
  }
  const token = (json as { token?: unknown } | null)?.token;
  if (typeof token !== 'string' || !sameSecret(token, secrets.token))
    return { ok: false, status: 401, message: 'invalid token' };
  const parsed = bodySchema.safeParse(json);
  if (!parsed.success) return { ok: false, status: 400, message: 'the body lacks action_type or user_id' };
  const b = parsed.data;
  const messageId = /"message_id"\s*:\s*"?(\d+)"?/.exec(text)?.[1] ?? null;
  return {
    ok: true,
    fields: {
      actionType: b.action_type,
      actionContext: b.action_context ?? null,
      userId: b.user_id,
      approvalCode: b.approval_code ?? null,
      instanceId: b.instance_id ?? null,
      taskId: b.task_id ?? null,
      searchId: b.id ?? null,
      messageId,
      reason: b.reason ?? null,
    },
  };
}
