// Approval definitions as code: the schema of definitions.yaml (beside the mappings), the body of
// POST external_approvals each declaration becomes, and the comparison with what GET reads back.
// Pure: no I/O except loadDefinitionsFile. Invariants (feishu-beyond-instances.md §1):
// - a definition's key is the custom code sent as approval_code; it can never look like a platform
//   code (a UUID), so the two pools cannot collide;
// - group_code is required and group_name always sent (a create without it fails with 1390001);
// - texts go as arrays under stable `@i18n@` keys, locales are checked here (the server does not),
//   and enable_quick_operate is sent true, so a read-back never differs spuriously.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CdcError } from '../errors.js';
import { describeSchemaIssues, LOCALES } from './payload-schema.js';
import type { ExternalApprovalBody } from './payload-schema.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const Texts = z.partialRecord(z.enum(LOCALES), z.string().min(1)).refine((t) => Object.keys(t).length > 0, {
  message: 'at least one locale',
});
const Id = z.string().min(1);

const Definition = z.strictObject({
  key: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'letters, digits, ".", "-" and "_", at most 128')
    .refine((k) => !UUID_RE.test(k), 'must not look like a UUID (that is a Feishu platform code)'),
  name: Texts,
  description: Texts.optional(),
  group: z.strictObject({ code: Id, name: Texts }),
  source_system: Texts.optional(),
  biz_type: z.string().optional(),
  links: z
    .strictObject({ pc: z.url().optional(), mobile: z.url().optional() })
    .refine((l) => l.pc ?? l.mobile, {
      message: 'a pc or a mobile link (a definition shown nowhere is refused)',
    }),
  viewers: z
    .union([
      z.enum(['tenant', 'none']),
      z.array(z.union([z.strictObject({ user: Id }), z.strictObject({ department: Id })])).max(200),
    ])
    .default('tenant'),
  managers: z.array(Id).max(200).optional(),
  allow_batch_operate: z.boolean().optional(),
  support_batch_read: z.boolean().optional(),
});
export type DefinitionSpec = z.infer<typeof Definition>;

const DefinitionsFile = z.strictObject({
  version: z.literal(1).optional(),
  default_locale: z.enum(LOCALES).default('zh-CN'),
  definitions: z.array(Definition).min(1),
});
export interface DefinitionSet {
  readonly file: string;
  readonly defaultLocale: (typeof LOCALES)[number];
  readonly definitions: readonly DefinitionSpec[];
}

/** definitions.yaml in the mappings directory, or beside the mapping file. */
export function definitionsPathFor(mappingsPath: string): string {
  const dir =
    existsSync(mappingsPath) && statSync(mappingsPath).isDirectory() ? mappingsPath : dirname(mappingsPath);
  return join(dir, 'definitions.yaml');
}

/** The declared definitions, or null when there is no definitions file. */
export function loadDefinitionsFile(path: string): DefinitionSet | null {
  if (!existsSync(path)) return null;
  const parsed = DefinitionsFile.safeParse(parseYaml(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new CdcError('CONFIG_INVALID', `${path}: ${describeSchemaIssues(parsed.error)}`);
  const seen = new Set<string>();
  for (const d of parsed.data.definitions) {
    if (seen.has(d.key))
      throw new CdcError('CONFIG_INVALID', `${path}: definition key ${d.key} appears twice`);
    seen.add(d.key);
    for (const texts of [d.name, d.group.name, d.description, d.source_system]) {
      if (texts && texts[parsed.data.default_locale] === undefined)
        throw new CdcError(
          'CONFIG_INVALID',
          `${path}: definition ${d.key} has a text without the default locale ${parsed.data.default_locale}`,
        );
    }
  }
  return { file: path, defaultLocale: parsed.data.default_locale, definitions: parsed.data.definitions };
}

/** The POST external_approvals body of one declaration (its key is the custom approval_code). */
export function definitionBody(def: DefinitionSpec, defaultLocale: string): ExternalApprovalBody {
  const slug = def.key.replace(/[^A-Za-z0-9_]/g, '_');
  const keys = {
    name: `@i18n@${slug}_name`,
    description: `@i18n@${slug}_description`,
    group: `@i18n@group_${def.group.code.replace(/[^A-Za-z0-9_]/g, '_')}`,
    source: `@i18n@${slug}_source`,
  };
  const byLocale = new Map<string, { key: string; value: string }[]>();
  const add = (key: string, texts: Partial<Record<string, string>> | undefined): void => {
    for (const [locale, value] of Object.entries(texts ?? {}))
      if (value !== undefined) byLocale.set(locale, [...(byLocale.get(locale) ?? []), { key, value }]);
  };
  add(keys.name, def.name);
  add(keys.description, def.description);
  add(keys.group, def.group.name);
  add(keys.source, def.source_system);
  const viewers =
    def.viewers === 'tenant'
      ? [{ viewer_type: 'TENANT' as const }]
      : def.viewers === 'none'
        ? [{ viewer_type: 'NONE' as const }]
        : def.viewers.map((v) =>
            'user' in v
              ? { viewer_type: 'USER' as const, viewer_user_id: v.user }
              : { viewer_type: 'DEPARTMENT' as const, viewer_department_id: v.department },
          );
  return {
    approval_name: keys.name,
    approval_code: def.key,
    group_code: def.group.code,
    group_name: keys.group,
    ...(def.description ? { description: keys.description } : {}),
    external: {
      ...(def.source_system ? { biz_name: keys.source } : {}),
      ...(def.biz_type === undefined ? {} : { biz_type: def.biz_type }),
      ...(def.links.pc === undefined ? {} : { create_link_pc: def.links.pc }),
      ...(def.links.mobile === undefined ? {} : { create_link_mobile: def.links.mobile }),
      support_pc: def.links.pc !== undefined,
      support_mobile: def.links.mobile !== undefined,
      // §1.3: harmless if inert, needed if it gates the approve/reject buttons.
      enable_quick_operate: true,
      allow_batch_operate: def.allow_batch_operate ?? false,
      support_batch_read: def.support_batch_read ?? false,
    },
    viewers,
    i18n_resources: [...byLocale].map(([locale, texts]) => ({
      locale: locale as (typeof LOCALES)[number],
      is_default: locale === defaultLocale,
      texts,
    })),
    ...(def.managers ? { managers: def.managers } : {}),
  };
}

/** A stable hash of the body: what `applied` remembers, to tell an edited declaration. */
export function specHash(body: ExternalApprovalBody): string {
  return createHash('sha256').update(canonical(body)).digest('hex').slice(0, 16);
}

/**
 * What differs between the body we would send and a GET read-back (field: ours vs theirs). The
 * read-back reports the custom code as approval_code and defaults unsent switches to false (§1.3).
 */
export function definitionDiff(body: ExternalApprovalBody, readBack: Record<string, unknown>): string[] {
  const diffs: string[] = [];
  const cmp = (field: string, ours: unknown, theirs: unknown): void => {
    if (canonical(ours ?? null) !== canonical(theirs ?? null))
      diffs.push(`${field}: ${canonical(theirs ?? null)} -> ${canonical(ours ?? null)}`);
  };
  cmp('approval_code', body.approval_code, readBack.approval_code);
  cmp('approval_name', body.approval_name, readBack.approval_name);
  cmp('group_code', body.group_code, readBack.group_code);
  cmp('description', body.description, readBack.description);
  const external = (readBack.external ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(body.external)) cmp(`external.${k}`, v, external[k]);
  cmp('viewers', body.viewers ?? [], readBack.viewers ?? []);
  cmp('managers', body.managers ?? [], readBack.managers ?? []);
  const texts = (resources: unknown): Record<string, Record<string, string>> => {
    const out: Record<string, Record<string, string>> = {};
    for (const r of Array.isArray(resources) ? resources : []) {
      const { locale, texts: list } = r as { locale?: string; texts?: { key: string; value: string }[] };
      if (!locale || !Array.isArray(list)) continue;
      out[locale] = Object.fromEntries(list.map((t) => [t.key, t.value]));
    }
    return out;
  };
  const ours = texts(body.i18n_resources);
  const theirs = texts(readBack.i18n_resources);
  for (const locale of new Set([...Object.keys(ours), ...Object.keys(theirs)]))
    cmp(`texts.${locale}`, ours[locale] ?? {}, theirs[locale] ?? {});
  return diffs;
}

/** JSON with object keys sorted, for hashing and comparing. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
