// The tables one mapping reads, collected while its expressions are compiled: the columns read per
// table and the key declared for each source table. Invariant: a table read as a source has one key,
// whichever source of the mapping declares it; a second, different key is reported where it is written.
import { formatRef } from './id-templates.js';
import type { PathKey, PathProblem } from './mapping-problem.js';
import type { LookupUsage } from './parse-context.js';

/** A table (column null) or a column of it named in a mapping, at `path`. */
export interface SourceRefPath {
  readonly table: string;
  readonly column: string | null;
  readonly path: readonly PathKey[];
}

export class Collector {
  readonly tables = new Map<
    string,
    { columns: Set<string>; keyColumns?: readonly string[]; keyPath?: readonly PathKey[] }
  >();
  readonly usages: LookupUsage[] = [];
  /** Where each table and column is first named (column null: the table), for catalog checks. */
  readonly refs: SourceRefPath[] = [];
  readonly #seen = new Set<string>();
  use(table: string, column: string, path?: readonly PathKey[]): void {
    let t = this.tables.get(table);
    if (!t) this.tables.set(table, (t = { columns: new Set() }));
    t.columns.add(column);
    if (path) this.ref(table, column, path);
  }
  ref(table: string, column: string | null, path: readonly PathKey[]): void {
    const id = JSON.stringify([table, column]);
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    this.refs.push({ table, column, path });
  }
  key(table: string, key: readonly string[], path: readonly PathKey[], problems: PathProblem[]): void {
    this.ref(table, null, [...path.slice(0, -1), 'table']);
    for (const c of key) this.use(table, c, path);
    const t = this.tables.get(table);
    if (!t) return;
    if (t.keyColumns && t.keyColumns.join() !== key.join()) {
      problems.push({
        path,
        found: `key ${key.join(', ')} for ${table}`,
        expected: `the key declared before for it (${t.keyColumns.join(', ')}, at ${formatRef(t.keyPath ?? [])})`,
      });
    } else if (!t.keyColumns) {
      t.keyColumns = key;
      t.keyPath = path;
    }
  }
}
