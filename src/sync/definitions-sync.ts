// Plan and apply of approval definitions as code (feishu-beyond-instances.md §1.7): compares each
// declaration with what Feishu holds under the platform code remembered in feishu_definition, and
// upserts what differs by its custom code.
// Invariants: plan writes nothing anywhere; apply POSTs only the custom code (never a platform code,
// which would silently create a duplicate), creates only when allowed (definitions cannot be
// deleted), and never overwrites a remembered platform code that Feishu still knows with another.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import { CdcError, isFeishuError } from '../errors.js';
import { definitionBody, definitionDiff, specHash } from '../feishu/definition-spec.js';
import type { DefinitionSet } from '../feishu/definition-spec.js';
import type { ExternalApprovalBody } from '../feishu/payload-schema.js';

export interface DefinitionsApi {
  createApproval(body: ExternalApprovalBody): Promise<{ approval_code: string }>;
  getApproval(platformCode: string): Promise<Record<string, unknown>>;
}

export interface StoredDefinition {
  key: string;
  platformCode: string;
  groupCode: string;
  specHash: string;
  appliedAt: Date;
}

export interface PlannedDefinition {
  key: string;
  action: 'create' | 'update' | 'no-op';
  /** Why: "not created yet", "missing in Feishu", or the differing fields. */
  reasons: string[];
  body: ExternalApprovalBody;
  /** The platform code remembered for the key, when Feishu still knows it. */
  platformCode?: string;
}

export interface DefinitionPlan {
  items: PlannedDefinition[];
  /** Counted calls the plan made (GETs) and apply will make (POSTs): on capped tenants they count. */
  callsMade: number;
  callsToApply: number;
}

export async function readStoredDefinitions(
  db: Kysely<StateDb>,
  schema: string,
): Promise<Map<string, StoredDefinition>> {
  const { rows } = await sql<{
    key: string;
    platform_code: string;
    group_code: string;
    spec_hash: string;
    applied_at: Date;
  }>`select key, platform_code, group_code, spec_hash, applied_at from ${sql.id(schema, 'feishu_definition')}`.execute(
    db,
  );
  return new Map(
    rows.map((r) => [
      r.key,
      {
        key: r.key,
        platformCode: r.platform_code,
        groupCode: r.group_code,
        specHash: r.spec_hash,
        appliedAt: r.applied_at,
      },
    ]),
  );
}

export async function planDefinitions(
  set: DefinitionSet,
  api: DefinitionsApi,
  db: Kysely<StateDb>,
  schema: string,
): Promise<DefinitionPlan> {
  const stored = await readStoredDefinitions(db, schema);
  const items: PlannedDefinition[] = [];
  let callsMade = 0;
  for (const def of set.definitions) {
    const body = definitionBody(def, set.defaultLocale);
    const known = stored.get(def.key);
    if (!known) {
      items.push({ key: def.key, action: 'create', reasons: ['not created yet'], body });
      continue;
    }
    let readBack: Record<string, unknown>;
    callsMade++;
    try {
      readBack = await api.getApproval(known.platformCode);
    } catch (err) {
      if (isFeishuError(err) && err.details.feishuCode === 1390002) {
        items.push({
          key: def.key,
          action: 'create',
          reasons: [`missing in Feishu (platform code ${known.platformCode} not found)`],
          body,
        });
        continue;
      }
      throw err;
    }
    const diff = definitionDiff(body, readBack);
    items.push({
      key: def.key,
      action: diff.length > 0 ? 'update' : 'no-op',
      reasons: diff,
      body,
      platformCode: known.platformCode,
    });
  }
  return { items, callsMade, callsToApply: items.filter((i) => i.action !== 'no-op').length };
}

export interface AppliedDefinition {
  key: string;
  action: PlannedDefinition['action'];
  platformCode: string;
}

export async function applyDefinitions(
  plan: DefinitionPlan,
  api: DefinitionsApi,
  db: Kysely<StateDb>,
  schema: string,
  options: { allowCreate: boolean },
): Promise<AppliedDefinition[]> {
  const creates = plan.items.filter((i) => i.action === 'create');
  if (creates.length > 0 && !options.allowCreate) {
    throw new CdcError(
      'CONFIG_INVALID',
      `apply would create ${creates.map((c) => c.key).join(', ')}; Feishu cannot delete a definition, so pass --allow-create to confirm`,
    );
  }
  const applied: AppliedDefinition[] = [];
  for (const item of plan.items) {
    if (item.action === 'no-op') {
      applied.push({ key: item.key, action: item.action, platformCode: item.platformCode ?? '' });
      continue;
    }
    const { approval_code: returned } = await api.createApproval(item.body);
    if (item.platformCode !== undefined && item.platformCode !== returned) {
      // Feishu still knows the remembered code but answered another: a duplicate was probably
      // created. Keep the remembered one and let a human look (§1.7).
      throw new CdcError(
        'FEISHU_API',
        `definition ${item.key}: Feishu answered platform code ${returned}, but ${item.platformCode} is remembered and still exists; not overwriting it`,
        {
          details: {
            endpoint: '/open-apis/approval/v4/external_approvals',
            disposition: 'stop',
            reason: 'Feishu answered another platform code than the remembered one: a human decides',
          },
        },
      );
    }
    await sql`insert into ${sql.id(schema, 'feishu_definition')} (key, platform_code, group_code, spec_hash, applied_at)
      values (${item.key}, ${returned}, ${item.body.group_code ?? ''}, ${specHash(item.body)}, now())
      on conflict (key) do update set platform_code = excluded.platform_code, group_code = excluded.group_code,
        spec_hash = excluded.spec_hash, applied_at = excluded.applied_at`.execute(db);
    applied.push({ key: item.key, action: item.action, platformCode: returned });
  }
  return applied;
}

/** The plan as the CLI prints it. */
export function renderPlan(plan: DefinitionPlan): string {
  const lines = plan.items.map((i) => {
    const head = `${i.action === 'create' ? '+' : i.action === 'update' ? '~' : '='} ${i.key}: ${i.action}`;
    return [head, ...i.reasons.map((r) => `    ${r}`)].join('\n');
  });
  const n = (a: string) => plan.items.filter((i) => i.action === a).length;
  lines.push(
    `${n('create')} to create, ${n('update')} to update, ${n('no-op')} unchanged; apply makes ${plan.callsToApply} counted call(s) (this plan made ${plan.callsMade})`,
  );
  return `${lines.join('\n')}\n`;
}
