// Reads from the replica the rows one instance needs, round by round as the mapping asks
// (instance row, then its tasks and CCs, then the lookups their values need). Read-only.
import type { Kysely } from 'kysely';
import {
  rowQueryKey,
  type InstanceRef,
  type LoadedRow,
  type MappingSet,
  type RowLookup,
  type RowQuery,
} from '../mapping/contract.js';
import { queryRows } from './row-query.js';

export class LoadedRows implements RowLookup {
  private readonly byQuery = new Map<string, LoadedRow[]>();
  private readonly queries: RowQuery[] = [];
  has(query: RowQuery): boolean {
    return this.byQuery.has(rowQueryKey(query));
  }
  set(query: RowQuery, rows: LoadedRow[]): void {
    const key = rowQueryKey(query);
    if (!this.byQuery.has(key)) this.queries.push(query);
    this.byQuery.set(key, rows);
  }
  rows(query: RowQuery): readonly LoadedRow[] | undefined {
    return this.byQuery.get(rowQueryKey(query));
  }
  /** Every loaded query with its rows, in load order (the console shows them). */
  entries(): [RowQuery, readonly LoadedRow[]][] {
    return [...this.byQuery.values()].map((rows, i) => [this.queries[i] as RowQuery, rows]);
  }
}

export async function loadInstanceRows(
  db: Kysely<any>,
  schema: string,
  mappings: MappingSet,
  ref: InstanceRef,
): Promise<LoadedRows> {
  const loaded = new LoadedRows();
  for (let round = 0; round < 8; round++) {
    const wanted = mappings.queriesFor(ref, loaded).filter((q) => !loaded.has(q));
    const unique = [...new Map(wanted.map((q) => [rowQueryKey(q), q])).values()];
    if (unique.length === 0) break;
    const answers = await queryRows(db, schema, unique);
    unique.forEach((q, i) => loaded.set(q, answers[i] ?? []));
  }
  return loaded;
}
