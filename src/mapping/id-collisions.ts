// Id collisions across mappings (and files): Feishu keys an instance by instance_id in the whole
// tenant and app, and wants instance, task and CC ids distinct within an instance (reference
// feishu-api.md §1.1), so two mappings that can render the same id silently overwrite each other.
// Invariant: every pair of id templates (instance, task, CC) of two different mappings either has
// non-overlapping constant prefixes, or both mappings read the same instance table under `where`
// filters this module can prove disjoint (some column whose allowed values cannot meet); anything
// else is refused. Sound, not complete: a separation it cannot prove is reported.
import { parseFilter, type Filter } from './filter.js';
import { constantPrefix, formatRef } from './id-templates.js';
import type { PathKey, PathProblem } from './mapping-problem.js';

export interface MappingIds {
  readonly file: string;
  readonly index: number;
  readonly instanceTable: string;
  readonly where: unknown;
  /** Every id template of the mapping with its path in its file. */
  readonly ids: readonly { readonly path: readonly PathKey[]; readonly template: string }[];
}

/** Problems for the later mapping of each colliding pair, in file order. */
export function crossMappingIdProblems(
  mappings: readonly MappingIds[],
): (PathProblem & { readonly file: string })[] {
  const out: (PathProblem & { file: string })[] = [];
  // One finding per pair of mappings (the first id of the later one that collides): the rest of a
  // copied mapping collides the same way and would only bury the message.
  mappings.forEach((b, j) => {
    for (const a of mappings.slice(0, j)) {
      if (a.instanceTable === b.instanceTable && filtersDisjoint(a.where, b.where)) continue;
      for (const id of b.ids) {
        const other = a.ids.find((x) => overlaps(x.template, id.template));
        if (!other) continue;
        const pa = constantPrefix(other.template);
        const pb = constantPrefix(id.template);
        const why =
          other.template === id.template
            ? 'the same template as'
            : `a constant prefix ${JSON.stringify(pb)} that overlaps ${JSON.stringify(pa)} of`;
        out.push({
          file: b.file,
          path: id.path,
          found: `${JSON.stringify(id.template)}, ${why} ${formatRef(other.path)} in ${a.file}`,
          expected:
            a.instanceTable === b.instanceTable
              ? `an id prefix of its own, or instance filters (where) that provably separate the two mappings of ${b.instanceTable}`
              : `an id template whose constant prefix is not a prefix of another mapping's (instance, task and CC ids share one space)`,
        });
        break;
      }
    }
  });
  return out;
}

function overlaps(a: string, b: string): boolean {
  const pa = constantPrefix(a);
  const pb = constantPrefix(b);
  return pa.startsWith(pb) || pb.startsWith(pa);
}

/** What one top-level conjunct allows for a column: a set of values, null, or "not these, not null". */
type Allowed = { in: ReadonlySet<string> } | { null: true } | { notIn: ReadonlySet<string> };

function conjuncts(f: Filter): Filter[] {
  return f.kind === 'and' ? f.items.flatMap(conjuncts) : [f];
}

function allowedByColumn(raw: unknown): Map<string, Allowed[]> {
  const out = new Map<string, Allowed[]>();
  if (raw === undefined || raw === null) return out;
  const filter = parseFilter(raw, [], { problems: [], useColumn: () => undefined });
  if (!filter) return out;
  for (const c of conjuncts(filter)) {
    let a: Allowed | undefined;
    if (c.kind === 'eq') a = { in: new Set([c.value]) };
    else if (c.kind === 'in') a = { in: c.values };
    else if (c.kind === 'is_null') a = c.isNull ? { null: true } : { notIn: new Set() };
    else if (c.kind === 'ne') a = { notIn: new Set([c.value]) };
    else if (c.kind === 'not_in') a = { notIn: c.values };
    if (a && 'column' in c) out.set(c.column, [...(out.get(c.column) ?? []), a]);
  }
  return out;
}

function cannotMeet(x: Allowed, y: Allowed): boolean {
  if ('in' in x && 'in' in y) return ![...x.in].some((v) => y.in.has(v));
  if ('in' in x && 'notIn' in y) return [...x.in].every((v) => y.notIn.has(v));
  if ('notIn' in x && 'in' in y) return cannotMeet(y, x);
  // A NULL column fails every condition but is_null: true (filter.ts).
  if ('null' in x) return !('null' in y);
  if ('null' in y) return true;
  return false;
}

/** True only when no row can pass both filters (judged on columns both constrain at top level). */
export function filtersDisjoint(a: unknown, b: unknown): boolean {
  const ca = allowedByColumn(a);
  const cb = allowedByColumn(b);
  for (const [column, xs] of ca) {
    const ys = cb.get(column);
    if (ys && xs.some((x) => ys.some((y) => cannotMeet(x, y)))) return true;
  }
  return false;
}
