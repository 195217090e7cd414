// Parsers of the operators with structure of their own: map (a value table), lookup (a key into
// another table and what to read from its row), time (inputs, formats, zone) and when (filter cases).
// They recurse into values and inputs through `r`, the entry points of expression-parser.ts, so the
// two modules do not import each other. Invariant: as for every parser, each problem is reported
// with its path and a failed part makes the operator undefined, never a partial Expr.
import { parseFilter, scalarText, type Filter } from './filter.js';
import type { Expr, LookupKeyPart } from './expression.js';
import { describeFound, type PathKey } from './mapping-problem.js';
import {
  checkAllowed,
  column,
  problem,
  zoneOption,
  type Allowed,
  type ParseContext,
} from './parse-context.js';
import { compileFormat, isValidTimeZone, type TextFormat } from './time-conversion.js';

/** The recursive entry points of the expression parser. */
export interface Recurse {
  value(raw: unknown, path: readonly PathKey[], ctx: ParseContext, allowed?: Allowed): Expr | undefined;
  input(raw: unknown, path: readonly PathKey[], ctx: ParseContext): Expr | undefined;
}

export function parseMap(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
  r: Recurse,
  allowed?: Allowed,
): Expr | undefined {
  const input = r.input(raw.map, [...path, 'map'], ctx);
  const valuesRaw = raw.values;
  const values = new Map<string, string | null>();
  let ok = input !== undefined;
  if (
    valuesRaw === null ||
    typeof valuesRaw !== 'object' ||
    Array.isArray(valuesRaw) ||
    Object.keys(valuesRaw).length === 0
  ) {
    problem(ctx, [...path, 'values'], describeFound(valuesRaw), 'an object of input value to output value');
    ok = false;
  } else {
    for (const [k, v] of Object.entries(valuesRaw)) {
      const out = v === null ? null : scalarText(v);
      if (out === undefined) {
        problem(ctx, [...path, 'values', k], describeFound(v), 'a text, a number, true, false or null');
        ok = false;
      } else {
        checkAllowed(out, [...path, 'values', k], ctx, allowed);
        values.set(k, out);
      }
    }
  }
  const fallback =
    raw.default === undefined ? undefined : r.value(raw.default, [...path, 'default'], ctx, allowed);
  if (!ok || (raw.default !== undefined && !fallback)) return undefined;
  return fallback
    ? { op: 'map', input: input as Expr, values, fallback }
    : { op: 'map', input: input as Expr, values };
}

export function parseLookup(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
  r: Recurse,
): Expr | undefined {
  const name = raw.lookup;
  const lookup = typeof name === 'string' ? ctx.lookups.get(name) : undefined;
  if (!lookup) {
    const known = [...ctx.lookups.keys()];
    problem(
      ctx,
      [...path, 'lookup'],
      typeof name === 'string' ? `unknown lookup "${name}"` : describeFound(name),
      known.length ? `one of ${known.join(', ')}` : 'a lookup declared under lookups',
    );
    return undefined;
  }
  const byRaw = raw.by;
  const items: unknown[] = Array.isArray(byRaw) ? (byRaw as unknown[]) : [byRaw];
  const byPath = [...path, 'by'];
  if (byRaw === undefined || items.length !== lookup.key.length) {
    problem(
      ctx,
      byPath,
      describeFound(byRaw),
      `${lookup.key.length} key value${lookup.key.length > 1 ? 's' : ''} for ${lookup.key.join(', ')} of lookup ${lookup.name}`,
    );
    return undefined;
  }
  const by: LookupKeyPart[] = [];
  items.forEach((item, i) => {
    const p = Array.isArray(byRaw) ? [...byPath, i] : byPath;
    if (typeof item === 'string') {
      const c = column(item, p, ctx);
      if (c !== undefined) by.push({ column: c });
    } else if (
      item !== null &&
      typeof item === 'object' &&
      !Array.isArray(item) &&
      Object.keys(item).join() === 'const' &&
      scalarText((item as { const: unknown }).const) !== undefined
    ) {
      by.push({ const: scalarText((item as { const: unknown }).const) ?? '' });
    } else problem(ctx, p, describeFound(item), 'a column name or { const: value }');
  });
  if (raw.get === undefined) {
    problem(ctx, [...path, 'get'], 'nothing', `the column (or an operator) to read from ${lookup.table}`);
    return undefined;
  }
  const inner: ParseContext = {
    ...ctx,
    scope: lookup.declared
      ? { table: lookup.table, declared: lookup.declared, always: new Set(lookup.key) }
      : { table: lookup.table },
  };
  const get = r.input(raw.get, [...path, 'get'], inner);
  if (!get || by.length !== lookup.key.length) return undefined;
  for (const k of lookup.key) ctx.useColumn(lookup.table, k, path);
  ctx.useLookup({ lookup, fromTable: ctx.scope.table, by });
  return { op: 'lookup', lookup: { name: lookup.name, table: lookup.table, key: lookup.key }, by, get };
}

export function parseTime(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
  r: Recurse,
): Expr | undefined {
  const arg = raw.time;
  const p = [...path, 'time'];
  const two = Array.isArray(arg);
  if (two && arg.length !== 2) {
    problem(ctx, p, describeFound(arg), 'one input, or a list of two: [date, time]');
    return undefined;
  }
  const inputs = (two ? arg : [arg]).map((a, i) => r.input(a, two ? [...p, i] : p, ctx));
  const zone = raw.zone === undefined ? ctx.timeZone : zoneOption(raw.zone, [...path, 'zone'], ctx);
  if (zone !== undefined && !isValidTimeZone(zone)) return undefined; // reported where the zone is set
  // Postgres prints a timestamptz with its offset, so only text read with a format always needs a
  // zone; a timestamp or date value without a zone is an error of that row at run time (parked).
  if (zone === undefined && raw.zone === undefined && (raw.format !== undefined || two)) {
    problem(
      ctx,
      p,
      'a time read from text with a format, which has no UTC offset, and no time zone to place it in',
      'time_zone on the mapping or in defaults, or zone on this operator',
    );
  }
  let formats: TextFormat[] | undefined;
  const fRaw = raw.format ?? (two ? ['YYYY-MM-DD', 'HH:mm:ss'] : undefined);
  const fPath = [...path, 'format'];
  if (fRaw !== undefined) {
    const list = Array.isArray(fRaw) ? fRaw : [fRaw];
    if (list.length !== inputs.length) {
      problem(
        ctx,
        fPath,
        describeFound(fRaw),
        two
          ? 'a list of two formats: [date format, time format]'
          : 'one format such as "YYYY-MM-DD HH:mm:ss"',
      );
      return undefined;
    }
    formats = [];
    list.forEach((f, i) => {
      const fp = Array.isArray(fRaw) ? [...fPath, i] : fPath;
      const part = !two ? 'datetime' : i === 0 ? 'date' : 'time';
      const compiled = typeof f === 'string' ? compileFormat(f, part) : 'not a text';
      if (typeof compiled === 'string') {
        const example =
          part === 'date'
            ? 'YYYYMMDD or YYYY-MM-DD'
            : part === 'time'
              ? 'HHmmss or HH:mm'
              : 'YYYY-MM-DD HH:mm:ss';
        problem(ctx, fp, `${describeFound(f)} (${compiled})`, `a ${part} format such as ${example}`);
      } else formats?.push(compiled);
    });
    if (formats.length !== list.length) return undefined;
  }
  if (inputs.some((x) => x === undefined) || (formats && zone === undefined)) return undefined;
  const exprs = inputs as Expr[];
  return formats
    ? { op: 'time', inputs: exprs, formats, zone: zone ?? null }
    : { op: 'time', inputs: exprs, zone: zone ?? null };
}

export function parseWhen(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
  r: Recurse,
  allowed?: Allowed,
): Expr | undefined {
  const list = raw.when;
  const p = [...path, 'when'];
  if (!Array.isArray(list) || list.length === 0) {
    problem(ctx, p, describeFound(list), 'a non-empty list of { if: <filter>, then: <value> }');
    return undefined;
  }
  let ok = true;
  const cases: { if: Filter; then: Expr }[] = [];
  (list as unknown[]).forEach((c, i) => {
    const cp = [...p, i];
    if (
      c === null ||
      typeof c !== 'object' ||
      Array.isArray(c) ||
      Object.keys(c).sort().join() !== 'if,then'
    ) {
      problem(ctx, cp, describeFound(c), 'an object with exactly if and then');
      ok = false;
      return;
    }
    const { if: ifRaw, then: thenRaw } = c as { if: unknown; then: unknown };
    const filter = parseFilter(ifRaw, [...cp, 'if'], {
      problems: ctx.problems,
      useColumn: (col, fp) => column(col, fp, ctx),
    });
    const then = r.value(thenRaw, [...cp, 'then'], ctx, allowed);
    if (filter && then) cases.push({ if: filter, then });
    else ok = false;
  });
  const otherwise =
    raw.else === undefined
      ? ({ op: 'const', value: null } as const)
      : r.value(raw.else, [...path, 'else'], ctx, allowed);
  if (!ok || !otherwise) return undefined;
  return { op: 'when', cases, otherwise };
}
