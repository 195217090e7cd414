// Answers the virtual-table queries of the mappings (mapping/virtual-tables.ts) from the state
// database: applied definitions from feishu_definition, resolved people from feishu_identity.
// Read-only. Invariant: an identity nobody has resolved yet is left unanswered (undefined), so the
// builder says "not resolved yet" instead of treating it as "no such user"; a negative entry is an
// empty answer.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import type { LoadedRow, RowQuery } from '../mapping/contract.js';
import { DEFINITIONS_TABLE, IDENTITIES_TABLE } from '../mapping/virtual-tables.js';

export async function readVirtualRows(
  db: Kysely<StateDb>,
  schema: string,
  queries: readonly RowQuery[],
): Promise<(LoadedRow[] | undefined)[]> {
  const defKeys = queries.filter((q) => q.table === DEFINITIONS_TABLE).map((q) => q.match.key ?? '');
  const ids = queries.filter((q) => q.table === IDENTITIES_TABLE);
  const codes = new Map<string, string>();
  if (defKeys.length > 0) {
    const { rows } = await sql<{ key: string; platform_code: string }>`
      select key, platform_code from ${sql.id(schema, 'feishu_definition')}
      where key = any(${defKeys}::text[])`.execute(db);
    for (const r of rows) codes.set(r.key, r.platform_code);
  }
  const people = new Map<string, string | null>();
  if (ids.length > 0) {
    const { rows } = await sql<{ kind: string; value: string; id_type: string; feishu_id: string | null }>`
      select i.kind, i.value, i.id_type, i.feishu_id
      from ${sql.id(schema, 'feishu_identity')} i
      join unnest(${ids.map((q) => q.match.kind ?? '')}::text[], ${ids.map((q) => q.match.value ?? '')}::text[],
                  ${ids.map((q) => q.match.id_type ?? '')}::text[]) as w(kind, value, id_type)
        using (kind, value, id_type)`.execute(db);
    for (const r of rows) people.set(`${r.kind}\u0000${r.value}\u0000${r.id_type}`, r.feishu_id);
  }
  return queries.map((q) => {
    if (q.table === DEFINITIONS_TABLE) {
      const code = codes.get(q.match.key ?? '');
      return code === undefined ? [] : [{ values: { platform_code: code }, deleted: false }];
    }
    const k = `${q.match.kind ?? ''}\u0000${q.match.value ?? ''}\u0000${q.match.id_type ?? ''}`;
    if (!people.has(k)) return undefined;
    const id = people.get(k) ?? null;
    return id === null ? [] : [{ values: { feishu_id: id }, deleted: false }];
  });
}
