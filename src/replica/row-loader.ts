// Reads from the replica the rows one instance needs, round by round as the mapping asks
// (instance row, then its tasks and CCs, then the lookups their values need). Read-only.
import type { Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import {
  rowQueryKey,
  type InstanceRef,
  type LoadedRow,
  type MappingSet,
  type RowLookup,
  type RowQuery,
} from '../mapping/contract.js';
import { isVirtualQuery } from '../mapping/virtual-tables.js';
import { queryRows } from './row-query.js';
import { readVirtualRows } from './virtual-rows.js';

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

/**
 * Called with the virtual-table queries of a round before they are read (the sync stage resolves
 * identities into the cache here).
 */
export type BeforeVirtualRead = (queries: readonly RowQuery[]) => Promise<void>;

export async function loadInstanceRows(
  db: Kysely<StateDb>,
  schema: string,
  mappings: MappingSet,
  ref: InstanceRef,
  beforeVirtual?: BeforeVirtualRead,
): Promise<LoadedRows> {
  const loaded = new LoadedRows();
  // Virtual queries the state database could not answer (an identity nobody resolved): asked once.
  const unanswered = new Set<string>();
  for (let round = 0; round < 8; round++) {
    const wanted = mappings
      .queriesFor(ref, loaded)
      .filter((q) => !loaded.has(q) && !unanswered.has(rowQueryKey(q)));
    const unique = [...new Map(wanted.map((q) => [rowQueryKey(q), q])).values()];
    if (unique.length === 0) break;
    const real = unique.filter((q) => !isVirtualQuery(q));
    const virtual = unique.filter(isVirtualQuery);
    if (real.length > 0) {
      const answers = await queryRows(db, schema, real);
      real.forEach((q, i) => loaded.set(q, answers[i] ?? []));
    }
    if (virtual.length > 0) {
      if (beforeVirtual) await beforeVirtual(virtual);
      const answers = await readVirtualRows(db, schema, virtual);
      virtual.forEach((q, i) => {
        const rows = answers[i];
        if (rows) loaded.set(q, rows);
        else unanswered.add(rowQueryKey(q));
      });
    }
  }
  return loaded;
}
