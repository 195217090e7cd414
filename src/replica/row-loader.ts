// Reads from the replica the rows one instance needs, round by round as the mapping asks
// (instance row, then its tasks and CCs, then the lookups their values need). Read-only.
import type { Kysely } from 'kysely';
import type { InstanceRef, LoadedRow, MappingSet, RowLookup, RowQuery } from '../mapping/contract.js';
import { queryRows } from './row-query.js';

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
    const answers = await queryRows(db, schema, unique);
    unique.forEach((q, i) => loaded.set(q, answers[i] ?? []));
  }
  return loaded;
}
