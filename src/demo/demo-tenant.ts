// The demo's Feishu tenant as onboarding meets it on day one (examples/emails-only): a directory of
// people the legacy users table knows only by email and mobile, the approval definitions applied from
// definitions.yaml before the connector starts, and the people resolved through contact batch_get_id
// (what `users report` does), read back from the identity cache. Invariant: it talks to Feishu only
// through the connector's own client, definitions and identity code, as the CLI commands do.
import { sql } from 'kysely';
import type pg from 'pg';
import type { Settings } from '../config/settings.js';
import { definitionsPathFor, loadDefinitionsFile } from '../feishu/definition-spec.js';
import type { DirectoryUser } from '../feishu/fake/fake-feishu.js';
import { FeishuClient } from '../feishu/feishu-client.js';
import { normalizeIdentity } from '../mapping/virtual-tables.js';
import type { MappingSet } from '../mapping/contract.js';
import type { StateConnection } from '../replica/state-db.js';
import { applyDefinitions, planDefinitions, type AppliedDefinition } from '../sync/definitions-sync.js';
import { renderUsersReport, usersReportOf } from '../sync/users-report.js';
import { seededEmail, seededMobile } from './legacy-workload.js';
import { CdcError } from '../errors.js';

/** People in the legacy users table (seedUsers(…, 'email')); the workload uses all but the last. */
export const DEMO_USERS = 20;
/** Known to Feishu by mobile only: their legacy email is not their Feishu one. */
const BY_MOBILE_ONLY = 2;
/** Not in Feishu at all (a contractor): the one request they approve parks with the reason. */
export const NOT_IN_FEISHU = DEMO_USERS;

/**
 * The fake tenant's directory for the demo's users. The workload moves people between two addresses
 * (userN@corp.example and userN@mail.corp.example, a mailbox migration): Feishu knows both, so a
 * changed email re-resolves to the same person. User 2's addresses are not Feishu's (mobile only).
 */
export function demoDirectory(): DirectoryUser[] {
  const users: DirectoryUser[] = [];
  for (let n = 1; n < NOT_IN_FEISHU; n++) {
    const person = { user_id: `u_${n}`, open_id: `ou_${n}`, union_id: `on_${n}`, name: `User ${n}` };
    if (n === BY_MOBILE_ONLY) {
      users.push({ ...person, email: `user${n}@feishu.corp.example`, mobile: `+86${seededMobile(n)}` });
      continue;
    }
    users.push({ ...person, email: seededEmail(n), mobile: `+86${seededMobile(n)}` });
    users.push({ ...person, email: seededEmail(n).replace('@', '@mail.') });
  }
  return users;
}

/** `definitions plan` then `definitions apply --allow-create`, as an operator would; returns what it did. */
export async function applyDemoDefinitions(
  settings: Settings,
  state: StateConnection,
): Promise<{ file: string; applied: AppliedDefinition[] }> {
  const file = definitionsPathFor(settings.mappings);
  const set = loadDefinitionsFile(file);
  if (!set) throw new CdcError('INTERNAL', `the demo's mappings have no ${file}`);
  const client = clientOf(settings);
  try {
    const plan = await planDefinitions(set, client, state.db, settings.stateSchema);
    const applied = await applyDefinitions(plan, client, state.db, settings.stateSchema, {
      allowCreate: true,
    });
    return { file, applied };
  } finally {
    await client.close();
  }
}

/** `users report` on the replica: resolves every person the instances reference, in batches; its lines. */
export async function reportDemoUsers(
  settings: Settings,
  state: StateConnection,
  mappings: MappingSet,
): Promise<string[]> {
  const client = clientOf(settings);
  try {
    const report = await usersReportOf(state.db, settings, mappings, client);
    return renderUsersReport(report).trimEnd().split('\n');
  } finally {
    await client.close();
  }
}

function clientOf(settings: Settings): FeishuClient {
  return new FeishuClient({
    baseUrl: settings.feishuBaseUrl,
    appId: settings.feishuAppId ?? '',
    appSecret: settings.feishuAppSecret ?? '',
    connections: 1,
  });
}

export interface ResolvedUsers {
  byEmail: { email: string; id: string }[];
  byMobile: { email: string; mobile: string; id: string }[];
  unresolved: string[];
  /** People no instance has referenced yet (not looked up). */
  notAsked: number;
}

/** Each legacy person against the identity cache: found by email, by mobile, or not at all. */
export async function resolvedUsers(
  legacy: pg.Pool,
  state: StateConnection,
  schema: string,
): Promise<ResolvedUsers> {
  const people = (
    await legacy.query<{ email: string | null; mobile: string | null }>(
      'select email, mobile from oa.users order by user_no',
    )
  ).rows;
  const { rows } = await sql<{ kind: string; value: string; feishu_id: string | null }>`
    select kind, value, feishu_id from ${sql.id(schema, 'feishu_identity')} where id_type = 'user_id'`.execute(
    state.db,
  );
  const cache = new Map(rows.map((r) => [`${r.kind}:${r.value}`, r.feishu_id]));
  const lookup = (kind: 'email' | 'mobile', value: string | null) =>
    value === null ? undefined : cache.get(`${kind}:${normalizeIdentity(kind, value)}`);
  const out: ResolvedUsers = { byEmail: [], byMobile: [], unresolved: [], notAsked: 0 };
  for (const p of people) {
    const email = lookup('email', p.email);
    const mobile = lookup('mobile', p.mobile);
    if (email) out.byEmail.push({ email: p.email ?? '', id: email });
    else if (mobile) out.byMobile.push({ email: p.email ?? '', mobile: p.mobile ?? '', id: mobile });
    else if (email === null) out.unresolved.push(p.email ?? '');
    else out.notAsked++;
  }
  return out;
}

/** The lines the demo prints about resolved users. */
export function renderResolvedUsers(r: ResolvedUsers): string[] {
  const asked = r.byEmail.length + r.byMobile.length + r.unresolved.length;
  const lines = [
    `users: ${r.byEmail.length + r.byMobile.length} of ${asked} people resolved to Feishu user_ids (email first, then mobile; cached in feishu_identity)`,
  ];
  const sample = r.byEmail.slice(0, 3).map((u) => `${u.email} -> ${u.id}`);
  if (sample.length > 0)
    lines.push(
      `  by email: ${sample.join(', ')}${r.byEmail.length > 3 ? ` and ${r.byEmail.length - 3} more` : ''}`,
    );
  for (const u of r.byMobile)
    lines.push(`  by mobile: ${u.mobile} -> ${u.id} (${u.email} is not a Feishu email)`);
  for (const email of r.unresolved)
    lines.push(
      `  not in Feishu: ${email}: the instances this person approves park until the directory knows them`,
    );
  if (r.notAsked > 0) lines.push(`  ${r.notAsked} not referenced by any instance yet`);
  return lines;
}
