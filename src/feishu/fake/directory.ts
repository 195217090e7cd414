// The fake tenant's user directory and contact v3 `users/batch_get_id` over it (feishu-api.md §7.2,
// feishu-beyond-instances.md §2): up to 50 emails and 50 mobiles per call, one result entry per
// input echoing it, no id for whom the app cannot see (unknown, resigned without include_resigned,
// or user_id asked without the employee_id field scope).
// Invariant: an unresolvable input is an entry without user_id, never an error and never dropped.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { describeSchemaIssues } from '../payload-schema.js';
import type { ApiAnswer } from './approvals.js';
import { CdcError } from '../../errors.js';

export const directoryUserSchema = z.object({
  user_id: z.string().min(1),
  open_id: z.string().min(1),
  union_id: z.string().min(1),
  email: z.string().optional(),
  mobile: z.string().optional(),
  name: z.string().optional(),
  resigned: z.boolean().optional(),
});
export type DirectoryUser = z.infer<typeof directoryUserSchema>;

/** Reads a directory file: a JSON array of users, or `{ "users": [...] }`. */
export function loadDirectoryFile(path: string): DirectoryUser[] {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  const list = Array.isArray(raw) ? raw : (raw as { users?: unknown } | null)?.users;
  const parsed = directoryUserSchema.array().safeParse(list);
  if (!parsed.success)
    throw new CdcError('CONFIG_INVALID', `directory file ${path}: ${describeSchemaIssues(parsed.error)}`);
  return parsed.data;
}

const ID_TYPES = ['open_id', 'union_id', 'user_id'] as const;
const querySchema = z.object({ user_id_type: z.enum(ID_TYPES).optional() });
const bodySchema = z.object({
  emails: z.array(z.string()).max(50).optional(),
  mobiles: z.array(z.string()).max(50).optional(),
  include_resigned: z.boolean().optional(),
});
const STATUS_SCOPES = [
  'contact:user.employee:readonly',
  'contact:contact:access_as_app',
  'contact:contact:readonly',
  'contact:contact:readonly_as_app',
];

// Mainland numbers may come with or without +86; other countries need their prefix (§7.2).
const mobileKey = (m: string): string => m.replace(/[\s-]/g, '').replace(/^\+86/, '');

export class FakeDirectory {
  #users: DirectoryUser[] = [];

  constructor(users: readonly DirectoryUser[] = []) {
    this.replace(users);
  }

  replace(users: readonly DirectoryUser[]): void {
    this.#users = users.map((u) => ({ ...u }));
  }

  users(): DirectoryUser[] {
    return this.#users.map((u) => ({ ...u }));
  }

  batchGetId(query: Record<string, string>, raw: unknown, scopes: ReadonlySet<string>): ApiAnswer {
    const q = querySchema.safeParse(query);
    const b = bodySchema.safeParse(raw);
    if (!q.success || !b.success) {
      const detail = !q.success
        ? describeSchemaIssues(q.error)
        : b.success
          ? ''
          : describeSchemaIssues(b.error);
      return { status: 400, body: { code: 99992402, msg: `field validation failed: ${detail}` } };
    }
    const idType = q.data.user_id_type ?? 'open_id';
    const { emails = [], mobiles = [], include_resigned: includeResigned = false } = b.data;
    const withStatus = STATUS_SCOPES.some((s) => scopes.has(s));
    // Without the field scope the user_id is left out, as the doc lists among the reasons (§7.2).
    const idVisible = idType !== 'user_id' || scopes.has('contact:user.employee_id:readonly');
    const entry = (user: DirectoryUser | undefined, echo: { email: string } | { mobile: string }) => {
      const visible = user && (includeResigned || !user.resigned) && idVisible;
      return {
        ...(visible ? { user_id: user[idType] } : {}),
        ...echo,
        ...(user && withStatus
          ? {
              status: {
                is_frozen: false,
                is_resigned: user.resigned === true,
                is_activated: user.resigned !== true,
                is_exited: user.resigned === true,
                is_unjoin: false,
              },
            }
          : {}),
      };
    };
    const userList = [
      ...emails.map((email) =>
        entry(
          this.#users.find((u) => u.email !== undefined && u.email.toLowerCase() === email.toLowerCase()),
          { email },
        ),
      ),
      ...mobiles.map((mobile) =>
        entry(
          this.#users.find((u) => u.mobile !== undefined && mobileKey(u.mobile) === mobileKey(mobile)),
          { mobile },
        ),
      ),
    ];
    return { status: 200, body: { code: 0, msg: 'success', data: { user_list: userList } } };
  }
}
