// Owns which instances a batch dirties: those its touched rows belong to directly, and those that
// reach a touched row through lookups, followed to any depth. Invariant: every instance whose
// payload reads a touched row, through however many lookups, is in the set (nothing vanishes);
// each query is asked once per batch, so a cycle of lookups ends.
import type { Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import {
  rowQueryKey,
  type InstanceRef,
  type MappingSet,
  type RowImage,
  type RowQuery,
} from '../mapping/contract.js';
import { instanceIdOf } from './instance-vocabulary.js';
import { queryRows } from './row-query.js';

/** Instances found so far, and the lookups still to follow from them. */
export interface DirtySet {
  readonly refs: Map<string, InstanceRef>;
  readonly queries: RowQuery[];
  readonly seenQueries: Set<string>;
}

export class DirtySetFinder {
  constructor(
    private readonly mappings: MappingSet,
    private readonly schema: string,
  ) {}

  /** Instances the touched rows belong to directly, and the lookups that lead to more. Pure. */
  direct(touched: readonly { table: string; row: RowImage }[]): DirtySet {
    const set: DirtySet = { refs: new Map(), queries: [], seenQueries: new Set() };
    for (const { table, row } of touched) this.addRow(table, row, set.refs, set.seenQueries, set.queries);
    return set;
  }

  /**
   * direct() of the whole and of each part of `touched` beginning at `starts` (a batch's source
   * transactions, which the bulk lanes count apart), each row looked at once. Parts only when there
   * are two or more starts, then one per start.
   */
  directParts(
    touched: readonly { table: string; row: RowImage }[],
    starts: readonly number[],
  ): { whole: DirtySet; parts: DirtySet[] } {
    if (starts.length < 2) return { whole: this.direct(touched), parts: [] };
    const parts = starts.map((from, k) => this.direct(touched.slice(from, starts[k + 1])));
    // Rows before the first start (none, as TransactionMarks marks them) still count for the whole.
    const whole = this.direct(touched.slice(0, starts[0]));
    for (const part of parts) {
      for (const [id, ref] of part.refs) whole.refs.set(id, ref);
      for (const query of part.queries) addQuery(query, whole.seenQueries, whole.queries);
    }
    return { whole, parts };
  }

  /**
   * Follows the lookups of `start` to the rows that read them, level by level until no new query is
   * left: a lookup chain of any length ends at its instance rows.
   */
  async follow(db: Kysely<StateDb>, start: DirtySet): Promise<Map<string, InstanceRef>> {
    const refs = new Map(start.refs);
    const seenQueries = new Set(start.seenQueries);
    let queries = start.queries;
    while (queries.length > 0) {
      const asked = queries;
      const answers = await queryRows(db, this.schema, asked);
      const next: RowQuery[] = [];
      answers.forEach((rows, i) => {
        const table = asked[i]?.table as string;
        for (const { values } of rows) this.addRow(table, values, refs, seenQueries, next);
      });
      queries = next;
    }
    return refs;
  }

  /** Adds the instances `row` belongs to, and the lookups that read it not asked yet. */
  private addRow(
    table: string,
    row: RowImage,
    refs: Map<string, InstanceRef>,
    seenQueries: Set<string>,
    queries: RowQuery[],
  ): void {
    for (const ref of this.mappings.instancesOfRow(table, row)) refs.set(instanceIdOf(ref), ref);
    for (const query of this.mappings.dependentsOfRow(table, row)) addQuery(query, seenQueries, queries);
  }
}

/** Queues `query` unless it was asked already: each query once per batch. */
function addQuery(query: RowQuery, seenQueries: Set<string>, queries: RowQuery[]): void {
  const qk = rowQueryKey(query);
  if (seenQueries.has(qk)) return;
  seenQueries.add(qk);
  queries.push(query);
}
