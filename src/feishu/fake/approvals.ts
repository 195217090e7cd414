// Third-party approval definitions of the fake Feishu, with the two-code semantics measured against
// the real API (feishu-beyond-instances.md §1.1-§1.5): POST upserts by the caller's custom code and
// answers the platform code (a UUID it generates); GET takes the platform code only and reports the
// custom code; instances name a definition by its platform code; no list, no delete.
// Invariant: one definition per custom code, ever; its platform code never changes; a platform code
// POSTed back as approval_code creates a second definition (as the real server silently does).
import { randomUUID } from 'node:crypto';
import { describeSchemaIssues, externalApprovalSchema } from '../payload-schema.js';
import type { ExternalApprovalBody } from '../payload-schema.js';

export interface StoredApproval {
  customCode: string;
  platformCode: string;
  groupCode: string;
  body: ExternalApprovalBody;
}

/** What a handler answers: HTTP status plus the Feishu body. */
export interface ApiAnswer {
  status: number;
  body: { code: number; msg: string; data?: unknown };
}

const ok = (data: unknown): ApiAnswer => ({ status: 200, body: { code: 0, msg: 'success', data } });
const invalid = (msg: string): ApiAnswer => ({ status: 400, body: { code: 1390001, msg } });

// Reference §1.3: fields left out read back as false.
const DEFAULT_FALSE = [
  'enable_quick_operate',
  'allow_batch_operate',
  'support_batch_read',
  'enable_mark_readed',
  'exclude_efficiency_statistics',
] as const;

export class FakeApprovals {
  readonly #byCustom = new Map<string, StoredApproval>();
  readonly #byPlatform = new Map<string, StoredApproval>();
  /** group_code -> group_name (an i18n key). */
  readonly #groups = new Map<string, string>();
  readonly #seededGroups: ReadonlyMap<string, string>;

  constructor(groups: Readonly<Record<string, string>> = {}) {
    this.#seededGroups = new Map(Object.entries(groups));
    this.clear();
  }

  /** Whether `code` is the platform code of a definition created here. */
  knowsPlatformCode(code: string): boolean {
    return this.#byPlatform.has(code);
  }

  definitions(): StoredApproval[] {
    return [...this.#byCustom.values()].map((d) => structuredClone(d));
  }

  /** POST /open-apis/approval/v4/external_approvals. */
  upsert(raw: unknown): ApiAnswer {
    // §1.4: the map form of texts is refused with 9499 before any other validation.
    if (textsAsMap(raw))
      return { status: 400, body: { code: 9499, msg: 'Invalid parameter type in json: texts' } };
    const parsed = externalApprovalSchema.safeParse(raw);
    if (!parsed.success) return invalid(`param is invalid: ${describeSchemaIssues(parsed.error)}`);
    const body: ExternalApprovalBody = parsed.data;
    const existing = this.#byCustom.get(body.approval_code);
    const group = this.#group(body, existing);
    if (typeof group !== 'string') return group;
    if (body.group_name !== undefined) this.#groups.set(group, body.group_name);
    if (existing) {
      existing.body = structuredClone(body);
      existing.groupCode = group;
      return ok({ approval_code: existing.platformCode });
    }
    const stored: StoredApproval = {
      customCode: body.approval_code,
      platformCode: randomUUID().toUpperCase(),
      groupCode: group,
      body: structuredClone(body),
    };
    this.#byCustom.set(stored.customCode, stored);
    this.#byPlatform.set(stored.platformCode, stored);
    return ok({ approval_code: stored.platformCode });
  }

  /** GET /open-apis/approval/v4/external_approvals/{code}: the platform code only (§1.1). */
  get(code: string): ApiAnswer {
    const found = this.#byPlatform.get(code);
    if (!found) return { status: 400, body: { code: 1390002, msg: 'approval code not found' } };
    const { body } = found;
    const external: Record<string, unknown> = { ...body.external };
    for (const name of DEFAULT_FALSE) external[name] ??= false;
    external.support_pc ??= false;
    external.support_mobile ??= false;
    return ok({
      approval_code: found.customCode,
      approval_name: body.approval_name,
      group_code: found.groupCode,
      group_name: this.#groups.get(found.groupCode) ?? '',
      ...(body.description === undefined ? {} : { description: body.description }),
      external,
      viewers: structuredClone(body.viewers ?? []),
      i18n_resources: structuredClone(body.i18n_resources ?? []),
      managers: [...(body.managers ?? [])],
    });
  }

  clear(): void {
    this.#byCustom.clear();
    this.#byPlatform.clear();
    this.#groups.clear();
    for (const [code, name] of this.#seededGroups) this.#groups.set(code, name);
  }

  /** The group the definition lands in, or the 1390001 answer of §1.2. */
  #group(body: ExternalApprovalBody, existing: StoredApproval | undefined): string | ApiAnswer {
    if (body.group_code === undefined) {
      // An update may leave the group out and keeps the current one (feishu-api.md §3).
      if (existing) return existing.groupCode;
      return invalid('Group code cannot be empty when create approval definition');
    }
    if (!this.#groups.has(body.group_code) && body.group_name === undefined)
      return invalid('审批分组Code和名称不匹配，请检查分组Code和名称');
    return body.group_code;
  }
}

function textsAsMap(raw: unknown): boolean {
  const resources = (raw as { i18n_resources?: unknown } | null)?.i18n_resources;
  if (!Array.isArray(resources)) return false;
  return resources.some((r) => {
    const texts = (r as { texts?: unknown } | null)?.texts;
    return texts !== null && typeof texts === 'object' && !Array.isArray(texts);
  });
}
