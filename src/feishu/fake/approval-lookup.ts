// The fake's `GET /open-apis/approval/v4/external_approvals/:approval_code` (查看指定三方审批定义):
// which definitions exist, as `doctor` asks before anything is pushed. Invariant: a code the fake
// does not know is answered 1390002 "approval code not found", as Feishu answers a code it does not
// know (feishu-beyond-instances.md §1.1); a known one with the stored definition, or just its code
// when it was seeded (the `approvalCodes` option) rather than created.
import type { FakeState } from './state.js';

const PREFIX = '/open-apis/approval/v4/external_approvals/';

/** Scopes, any of which allows the lookup (feishu-api.md §3: the definition endpoints). */
export const APPROVAL_LOOKUP_SCOPES = [
  'approval:approval',
  'approval:approval:readonly',
  'approval:external_approval',
] as const;

/** The approval code a GET path asks for, or null when the path is not a definition lookup. */
export function approvalLookupCode(pathname: string): string | null {
  if (!pathname.startsWith(PREFIX)) return null;
  const code = decodeURIComponent(pathname.slice(PREFIX.length));
  return code.length > 0 && !code.includes('/') ? code : null;
}

export function lookupApproval(
  state: FakeState,
  code: string,
): { status: number; body: { code: number; msg: string; data?: unknown } } {
  const found = state.approval(code);
  // The reference records no HTTP status for 1390002; like the fake's other parameter errors, 400.
  if (!found) return { status: 400, body: { code: 1390002, msg: 'approval code not found' } };
  return { status: 200, body: { code: 0, msg: 'success', data: found } };
}
