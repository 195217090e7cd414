// The tables one mapping reads, collected while its expressions are compiled: the columns read per
// table and the key declared for each source table. Invariant: a table read as a source has one key,
// whichever source of the mapping declares it; a second, different key is reported where it is written.
import { formatRef } from './id-templates.js';
import type { PathKey, PathProblem } from './mapping-problem.js';
import type { LookupUsage } from './parse-context.js';

export class Collector {
  readonly tables = new Map<
    string,
    { columns: Set<string>; keyColumns?: readonly string[]; keyPath?: readonly PathKey[] }
  >();
  readonly usages: LookupUsage[] = [];
  use(table: string, column: string): void {
    let t = this.tables.get(table);
    if (!t) this.tables.set(table, (t = { columns: new Set() }));
    t.columns.add(column);
  }
  key(table: string, key: readonly string[], path: readonly PathKey[], problems: PathProblem[]): void {
    for (const c of key) this.use(table, c);
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
