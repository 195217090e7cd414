// A tiny in-memory stand-in for the replica: tables of row images (live or tombstones) answering
// RowQuery by text equality, and the queriesFor/build loop the pipeline runs.
import type {
  BuildResult,
  InstanceRef,
  LoadedRow,
  MappingSet,
  RowImage,
  RowLookup,
  RowQuery,
} from '../../src/mapping/contract.js';
import { loadMappingTexts } from '../../src/mapping/mapping-loader.js';
import type { CompiledMappingSet } from '../../src/mapping/mapping-set.js';

export class FakeRows {
  readonly tables = new Map<string, LoadedRow[]>();

  add(table: string, ...rows: RowImage[]): this {
    const list = this.tables.get(table) ?? [];
    for (const values of rows) list.push({ values, deleted: false });
    this.tables.set(table, list);
    return this;
  }

  tombstone(table: string, ...rows: RowImage[]): this {
    const list = this.tables.get(table) ?? [];
    for (const values of rows) list.push({ values, deleted: true });
    this.tables.set(table, list);
    return this;
  }

  query(q: RowQuery): LoadedRow[] {
    return (this.tables.get(q.table) ?? []).filter((r) =>
      Object.entries(q.match).every(([k, v]) => r.values[k] === v),
    );
  }
}

const id = (q: RowQuery): string => JSON.stringify([q.table, Object.entries(q.match).sort()]);

/** A RowLookup that knows only what was loaded into it. */
export class LoadedSet implements RowLookup {
  readonly loaded = new Map<string, readonly LoadedRow[]>();
  rows(q: RowQuery): readonly LoadedRow[] | undefined {
    return this.loaded.get(id(q));
  }
  load(q: RowQuery, rows: readonly LoadedRow[]): void {
    this.loaded.set(id(q), rows);
  }
}

/** Runs queriesFor until nothing new is asked, then build; returns the rounds of queries too. */
export function resolveAndBuild(
  set: MappingSet,
  ref: InstanceRef,
  db: FakeRows,
): { result: BuildResult; rounds: RowQuery[][] } {
  const lookup = new LoadedSet();
  const rounds: RowQuery[][] = [];
  for (let i = 0; i < 10; i++) {
    const fresh = set.queriesFor(ref, lookup).filter((q) => lookup.rows(q) === undefined);
    if (fresh.length === 0) break;
    rounds.push(fresh);
    for (const q of fresh) lookup.load(q, db.query(q));
  }
  return { result: set.build(ref, lookup), rounds };
}

/** Loads one mapping file given as text. */
export function mappingOf(yaml: string): CompiledMappingSet {
  return loadMappingTexts([{ file: 'test.yaml', text: yaml }]);
}
