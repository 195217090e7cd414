// The digest of what Feishu shows for an instance: its payload without the instance's update_time
// (which the sync stage raises on every push and no user sees change). Pure. Invariant: two payloads
// with equal digests differ at most in update_time, so pushing the second changes nothing in Feishu.
import { createHash } from 'node:crypto';
import type { ExternalInstance, UpdateMode } from '../feishu/external-instance.js';

export function payloadDigest(payload: ExternalInstance, mode: UpdateMode): string {
  const { update_time: _ignored, update_mode: _mode, ...shown } = payload;
  // The payload builder emits keys in a fixed order, so JSON text is a stable form of the value.
  return createHash('sha256').update(mode).update('\n').update(JSON.stringify(shown)).digest('base64url');
}
