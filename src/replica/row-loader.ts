// Reads from the replica the rows one instance needs, round by round as the mapping asks
// (instance row, then its tasks and CCs, then the lookups their values need). Read-only.
import { sql, type Kysely } from 'kysely';
import type { InstanceRef, LoadedRow, MappingSet, RowLookup, RowQuery } from '../mapping/contract.js';

export class LoadedRows implements RowLookup {
  private readonly byQuery = new Map<string, LoadedRow[]>();
  static keyOf(query: RowQuery): string {
    const match = Object.keys(query.match)
      .sort()
      .map((k) => [k, query.match[k]]);
    return JSON.stringify([query.table, match]);
  }
  has(query: RowQuery): boolean {
    return this.byQuery.has(LoadedRows.keyOf(query));
  }
  set(query: RowQuery, rows: LoadedRow[]): void {
    this.byQuery.set(LoadedRows.keyOf(query), rows);
  }
  rows(query: RowQuery): readonly LoadedRow[] | undefined {
    return this.byQuery.get(LoadedRows.keyOf(query));
  }
}

export async function loadInstanceRows(db: Kysely<any>, schema: string, mappings: MappingSet, ref: InstanceRef): Promise<LoadedRows> {
  const loaded = new LoadedRows();
  for (let round = 0; round < 8; round++) {
    const wanted = mappings.queriesFor(ref, loaded).filter((q) => !loaded.has(q));
    const unique = [...new Map(wanted.map((q) => [LoadedRows.keyOf(q), q])).values()];
    if (unique.length === 0) break;
    const { rows } = await sql<{ i: string; data: Record<string, string | null> | null; deleted: boolean | null }>`
      select q.i, r.data, r.deleted
      from unnest(${unique.map((q) => q.table)}::text[], ${unique.map((q) => JSON.stringify(q.match))}::jsonb[])
        with ordinality as q(tbl, m, i)
      left join lateral (select data, deleted from ${sql.id(schema, 'row_image')} ri where ri.tbl = q.tbl and ri.data @> q.m) r on true`.execute(db);
    const grouped = new Map<number, LoadedRow[]>();
    for (const row of rows) {
      const i = Number(row.i) - 1;
      const list = grouped.get(i) ?? [];
      if (row.data) list.push({ values: row.data, deleted: row.deleted === true });
      grouped.set(i, list);
    }
    unique.forEach((q, i) => loaded.set(q, grouped.get(i) ?? []));
  }
  return loaded;
}
