// Row filters: which rows of a table a source takes, and the conditions of `when` cases.
// Grammar (YAML): an object whose keys are column names (all must hold) or `and` / `or` / `not`;
// a column's condition is a value (equality), a list (in-set), null (is null), or one of
// { eq, ne, in, not_in, is_null }. Invariant: values compare as Postgres text, and a NULL column
// fails every condition but `is_null: true` (SQL: NULL is neither equal nor unequal to anything);
// `not` simply inverts, so `not: {c: x}` holds for a NULL c.
import type { RowImage } from './contract.js';
import { describeFound, type PathKey, type PathProblem } from './mapping-problem.js';

export type Filter =
  | { readonly kind: 'and' | 'or'; readonly items: readonly Filter[] }
  | { readonly kind: 'not'; readonly item: Filter }
  | { readonly kind: 'eq' | 'ne'; readonly column: string; readonly value: string }
  | { readonly kind: 'in' | 'not_in'; readonly column: string; readonly values: ReadonlySet<string> }
  | { readonly kind: 'is_null'; readonly column: string; readonly isNull: boolean };

export interface FilterParseContext {
  readonly problems: PathProblem[];
  /** Called for every column the filter reads, with the path that names it. */
  readonly useColumn: (column: string, path: readonly PathKey[]) => void;
}

const OPS = 'eq, ne, in, not_in, is_null';

/** Text of a scalar as compared with Postgres output: booleans are "t"/"f" (bool's text form). */
export function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

export function parseFilter(
  raw: unknown,
  path: readonly PathKey[],
  ctx: FilterParseContext,
): Filter | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    ctx.problems.push({
      path,
      found: describeFound(raw),
      expected: 'a filter: an object of column conditions, and, or, not',
    });
    return undefined;
  }
  const items: Filter[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const p = [...path, key];
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(value) || value.length === 0) {
        ctx.problems.push({
          path: p,
          found: describeFound(value),
          expected: `a non-empty list of filters for ${key}`,
        });
        continue;
      }
      const parts = value.map((v, i) => parseFilter(v, [...p, i], ctx));
      if (parts.every((f): f is Filter => f !== undefined)) items.push({ kind: key, items: parts });
    } else if (key === 'not') {
      const inner = parseFilter(value, p, ctx);
      if (inner) items.push({ kind: 'not', item: inner });
    } else {
      ctx.useColumn(key, p);
      const cond = parseCondition(key, value, p, ctx);
      if (cond) items.push(cond);
    }
  }
  if (items.length === 0) {
    if (Object.keys(raw).length === 0)
      ctx.problems.push({ path, found: 'an empty object', expected: 'at least one condition' });
    return undefined;
  }
  return items.length === 1 ? items[0] : { kind: 'and', items };
}

function textList(
  value: unknown,
  path: readonly PathKey[],
  ctx: FilterParseContext,
): Set<string> | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    ctx.problems.push({ path, found: describeFound(value), expected: 'a non-empty list of values' });
    return undefined;
  }
  const out = new Set<string>();
  let ok = true;
  value.forEach((v, i) => {
    const t = scalarText(v);
    if (t === undefined) {
      ctx.problems.push({ path: [...path, i], found: describeFound(v), expected: 'a text value' });
      ok = false;
    } else out.add(t);
  });
  return ok ? out : undefined;
}

function parseCondition(
  column: string,
  value: unknown,
  path: readonly PathKey[],
  ctx: FilterParseContext,
): Filter | undefined {
  if (value === null) return { kind: 'is_null', column, isNull: true };
  const text = scalarText(value);
  if (text !== undefined) return { kind: 'eq', column, value: text };
  if (Array.isArray(value)) {
    const values = textList(value, path, ctx);
    return values && { kind: 'in', column, values };
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value);
    const [op, arg] = entries[0] ?? [];
    if (entries.length !== 1 || op === undefined) {
      ctx.problems.push({ path, found: describeFound(value), expected: `exactly one of ${OPS}` });
      return undefined;
    }
    const p = [...path, op];
    switch (op) {
      case 'eq':
      case 'ne': {
        const t = scalarText(arg);
        if (t === undefined) {
          ctx.problems.push({ path: p, found: describeFound(arg), expected: 'a text value' });
          return undefined;
        }
        return { kind: op, column, value: t };
      }
      case 'in':
      case 'not_in': {
        const values = textList(arg, p, ctx);
        return values && { kind: op, column, values };
      }
      case 'is_null':
        if (typeof arg !== 'boolean') {
          ctx.problems.push({ path: p, found: describeFound(arg), expected: 'true or false' });
          return undefined;
        }
        return { kind: 'is_null', column, isNull: arg };
      default:
        ctx.problems.push({
          path: p,
          at: 'key',
          found: `unknown condition "${op}"`,
          expected: `one of ${OPS}`,
        });
        return undefined;
    }
  }
  ctx.problems.push({
    path,
    found: describeFound(value),
    expected: `a value, a list, null or one of ${OPS}`,
  });
  return undefined;
}

export function matchesFilter(filter: Filter | undefined, row: RowImage): boolean {
  if (!filter) return true;
  switch (filter.kind) {
    case 'and':
      return filter.items.every((f) => matchesFilter(f, row));
    case 'or':
      return filter.items.some((f) => matchesFilter(f, row));
    case 'not':
      return !matchesFilter(filter.item, row);
    case 'is_null':
      return (row[filter.column] ?? null) === null ? filter.isNull : !filter.isNull;
    default: {
      const v = row[filter.column] ?? null;
      if (v === null) return false;
      if (filter.kind === 'eq') return v === filter.value;
      if (filter.kind === 'ne') return v !== filter.value;
      if (filter.kind === 'in') return filter.values.has(v);
      if (filter.kind === 'not_in') return !filter.values.has(v);
      return false;
    }
  }
}
