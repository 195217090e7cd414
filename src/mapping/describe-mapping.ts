// One line per loaded mapping, for `mappings check` and the console's configuration page. Pure.
import type { CompiledMapping } from './compiled-mapping.js';

/** One line per mapping: what it maps from which tables. */
export function describeMapping(m: CompiledMapping): string {
  const sources = (list: readonly { table: string; where?: unknown }[]): string =>
    list.length === 0 ? 'none' : list.map((s) => `${s.table}${s.where ? ' (filtered)' : ''}`).join(', ');
  const reads = [...m.tables.keys()].sort().join(', ');
  const inst = m.instance;
  return (
    `${m.name}: instance ${inst.table} (key ${inst.key.join(', ')}${inst.where ? ', filtered' : ''}); ` +
    `tasks ${sources(m.tasks)}; ccs ${sources(m.ccs)}; reads ${reads}; in ${m.file}`
  );
}
