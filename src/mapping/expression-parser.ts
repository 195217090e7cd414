// Parses the YAML form of values into Exprs, reporting every problem with its path. Two positions:
// a VALUE position (a field) reads a bare text as a template ("oa-{req_id}", or a constant when it
// has no placeholder); an INPUT position (what an operator reads: map, time, truncate, json, array,
// number, lookup get) reads a bare text as a column name. Objects are operators in both.
// Invariant: every column an expression reads is reported through `useColumn`, every lookup through
// `useLookup`, so the loader knows the columns of each table and the reverse paths of lookups.
import { parseFilter, scalarText } from './filter.js';
import type { Expr, LookupDef, LookupKeyPart, TemplatePart } from './expression.js';
import { FEISHU_LOCALES } from './i18n-collector.js';
import { describeFound, type PathKey, type PathProblem } from './mapping-problem.js';
import { compileJsonPath } from './pg-text.js';
import { compileFormat, isValidTimeZone, type TextFormat } from './time-conversion.js';

/** The table whose row an expression reads, and its declared columns if the mapping lists them. */
export interface Scope {
  readonly table: string;
  readonly declared?: ReadonlySet<string>;
  /** Key columns of the scope: always readable even when `declared` omits them. */
  readonly always?: ReadonlySet<string>;
}

export interface LookupEntry extends LookupDef {
  readonly declared?: ReadonlySet<string>;
}

export interface LookupUsage {
  readonly lookup: LookupDef;
  /** The table of the row the `by` columns are read from. */
  readonly fromTable: string;
  readonly by: readonly LookupKeyPart[];
}

export interface ParseContext {
  readonly problems: PathProblem[];
  readonly scope: Scope;
  readonly nullInTemplates: 'empty' | 'null';
  readonly timeZone: string | undefined;
  readonly defaultLocale: string;
  readonly lookups: ReadonlyMap<string, LookupEntry>;
  readonly useColumn: (table: string, column: string) => void;
  readonly useLookup: (usage: LookupUsage) => void;
}

/** Allowed constant outputs of a value (statuses, display methods): checked where constants appear. */
export interface Allowed {
  readonly values: readonly string[];
}

const OPERATORS: Readonly<Record<string, readonly string[]>> = {
  column: [],
  const: [],
  template: ['on_null'],
  map: ['values', 'default'],
  coalesce: [],
  concat: [],
  truncate: ['length', 'ellipsis'],
  number: ['decimals', 'thousands'],
  json: ['path'],
  array: ['join', 'index'],
  lookup: ['by', 'get'],
  time: ['format', 'zone'],
  when: ['else'],
};
const OPERATOR_LIST = Object.keys(OPERATORS).join(', ');
const COLUMN_RE = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const LOCALE_RE = /^[a-z]{2}-[A-Z]{2}$/;

function problem(
  ctx: ParseContext,
  path: readonly PathKey[],
  found: string,
  expected: string,
  at?: 'key',
): void {
  ctx.problems.push(at ? { path, at, found, expected } : { path, found, expected });
}

function column(name: unknown, path: readonly PathKey[], ctx: ParseContext): string | undefined {
  if (typeof name !== 'string' || !COLUMN_RE.test(name)) {
    problem(ctx, path, describeFound(name), 'a column name');
    return undefined;
  }
  const { declared, always, table } = ctx.scope;
  if (declared && !declared.has(name) && !always?.has(name)) {
    problem(
      ctx,
      path,
      `column "${name}" which is not declared for ${table}`,
      `one of ${[...(always ?? []), ...declared].join(', ')}`,
    );
    return undefined;
  }
  ctx.useColumn(table, name);
  return name;
}

function checkAllowed(
  value: string | null,
  path: readonly PathKey[],
  ctx: ParseContext,
  allowed?: Allowed,
): void {
  if (allowed && value !== null && !allowed.values.includes(value)) {
    problem(ctx, path, describeFound(value), `one of ${allowed.values.join(', ')}`);
  }
}

/** A template: `{column}` placeholders, `{{` and `}}` for literal braces. */
export function parseTemplate(
  text: string,
  path: readonly PathKey[],
  ctx: ParseContext,
  onNull: 'empty' | 'null',
  allowed?: Allowed,
): Expr | undefined {
  const parts: TemplatePart[] = [];
  let literal = '';
  for (let i = 0; i < text.length;) {
    if (text.startsWith('{{', i) || text.startsWith('}}', i)) {
      literal += text[i];
      i += 2;
    } else if (text[i] === '{') {
      const end = text.indexOf('}', i);
      const name = end < 0 ? text.slice(i + 1) : text.slice(i + 1, end);
      if (end < 0 || !COLUMN_RE.test(name)) {
        problem(
          ctx,
          path,
          `${describeFound(text)} with a bad placeholder "{${name}${end < 0 ? '' : '}'}"`,
          'placeholders {column} (write {{ and }} for literal braces)',
        );
        return undefined;
      }
      if (column(name, path, ctx) === undefined) return undefined;
      if (literal) parts.push(literal);
      literal = '';
      parts.push({ column: name });
      i = end + 1;
    } else if (text[i] === '}') {
      problem(
        ctx,
        path,
        `${describeFound(text)} with an unmatched "}"`,
        'placeholders {column} (write }} for a literal brace)',
      );
      return undefined;
    } else {
      literal += text[i];
      i += 1;
    }
  }
  if (literal) parts.push(literal);
  if (parts.every((p) => typeof p === 'string')) {
    const value = parts.join('');
    checkAllowed(value, path, ctx, allowed);
    return { op: 'const', value };
  }
  return { op: 'template', parts, onNull };
}

/** A value position: text = template or constant, number/bool = constant, object = operator. */
export function parseValue(
  raw: unknown,
  path: readonly PathKey[],
  ctx: ParseContext,
  allowed?: Allowed,
): Expr | undefined {
  if (raw === null) return { op: 'const', value: null };
  if (typeof raw === 'boolean' || typeof raw === 'number') {
    const value = scalarText(raw) ?? '';
    checkAllowed(value, path, ctx, allowed);
    return { op: 'const', value };
  }
  if (typeof raw === 'string') return parseTemplate(raw, path, ctx, ctx.nullInTemplates, allowed);
  if (typeof raw === 'object' && !Array.isArray(raw))
    return parseOperator(raw as Record<string, unknown>, path, ctx, allowed);
  problem(ctx, path, describeFound(raw), `a value: a text, a template or one operator (${OPERATOR_LIST})`);
  return undefined;
}

/** An input position: text = column name, object = operator. */
export function parseInput(raw: unknown, path: readonly PathKey[], ctx: ParseContext): Expr | undefined {
  if (typeof raw === 'string') {
    const name = column(raw, path, ctx);
    return name === undefined ? undefined : { op: 'column', column: name };
  }
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw))
    return parseOperator(raw as Record<string, unknown>, path, ctx);
  problem(ctx, path, describeFound(raw), 'a column name or an operator object');
  return undefined;
}

function intOption(
  raw: unknown,
  path: readonly PathKey[],
  ctx: ParseContext,
  min: number,
  max: number,
): number | undefined {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(Number.isInteger(n) && n >= min && n <= max)) {
    problem(ctx, path, describeFound(raw), `a whole number from ${min} to ${max}`);
    return undefined;
  }
  return n;
}

function textOption(raw: unknown, path: readonly PathKey[], ctx: ParseContext): string | undefined {
  if (typeof raw !== 'string') {
    problem(ctx, path, describeFound(raw), 'a text');
    return undefined;
  }
  return raw;
}

function zoneOption(raw: unknown, path: readonly PathKey[], ctx: ParseContext): string | undefined {
  if (typeof raw !== 'string' || !isValidTimeZone(raw)) {
    problem(ctx, path, describeFound(raw), 'an IANA time zone such as Asia/Shanghai');
    return undefined;
  }
  return raw;
}

function parseOperator(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
  allowed?: Allowed,
): Expr | undefined {
  const keys = Object.keys(raw);
  const ops = keys.filter((k) => k in OPERATORS);
  if (ops.length !== 1) {
    const found = ops.length === 0 ? describeFound(raw) : `several operators (${ops.join(', ')})`;
    problem(ctx, path, found, `exactly one operator: ${OPERATOR_LIST}`);
    return undefined;
  }
  const op = ops[0] ?? '';
  const options = OPERATORS[op] ?? [];
  let bad = false;
  for (const k of keys) {
    if (k !== op && !options.includes(k)) {
      problem(
        ctx,
        [...path, k],
        `unknown key "${k}"`,
        options.length ? `one of ${op}, ${options.join(', ')}` : `only the key ${op}`,
        'key',
      );
      bad = true;
    }
  }
  if (bad) return undefined;
  const arg = raw[op];
  const p = [...path, op];
  switch (op) {
    case 'column': {
      const name = column(arg, p, ctx);
      return name === undefined ? undefined : { op: 'column', column: name };
    }
    case 'const': {
      if (arg === null) return { op: 'const', value: null };
      const text = scalarText(arg);
      if (text === undefined) {
        problem(ctx, p, describeFound(arg), 'a text, a number, true, false or null');
        return undefined;
      }
      checkAllowed(text, p, ctx, allowed);
      return { op: 'const', value: text };
    }
    case 'template': {
      const onNull = raw.on_null ?? ctx.nullInTemplates;
      if (onNull !== 'empty' && onNull !== 'null') {
        problem(ctx, [...path, 'on_null'], describeFound(onNull), 'one of empty, null');
        return undefined;
      }
      if (typeof arg !== 'string') {
        problem(ctx, p, describeFound(arg), 'a template text such as "prefix-{column}"');
        return undefined;
      }
      return parseTemplate(arg, p, ctx, onNull, allowed);
    }
    case 'map':
      return parseMap(raw, path, ctx, allowed);
    case 'coalesce':
    case 'concat': {
      if (!Array.isArray(arg) || arg.length === 0) {
        problem(ctx, p, describeFound(arg), 'a non-empty list of values');
        return undefined;
      }
      const items = arg.map((item, i) =>
        parseValue(item, [...p, i], ctx, op === 'coalesce' ? allowed : undefined),
      );
      return items.every((x): x is Expr => x !== undefined) ? { op, items } : undefined;
    }
    case 'truncate': {
      const input = parseInput(arg, p, ctx);
      const length = intOption(raw.length, [...path, 'length'], ctx, 1, 1_000_000);
      const ellipsis = raw.ellipsis === undefined ? '' : textOption(raw.ellipsis, [...path, 'ellipsis'], ctx);
      if (!input || length === undefined || ellipsis === undefined) return undefined;
      return { op: 'truncate', input, length, ellipsis };
    }
    case 'number': {
      const input = parseInput(arg, p, ctx);
      const decimals =
        raw.decimals === undefined ? undefined : intOption(raw.decimals, [...path, 'decimals'], ctx, 0, 20);
      const thousands = raw.thousands ?? false;
      if (typeof thousands !== 'boolean')
        problem(ctx, [...path, 'thousands'], describeFound(thousands), 'true or false');
      if (!input || (raw.decimals !== undefined && decimals === undefined) || typeof thousands !== 'boolean')
        return undefined;
      return decimals === undefined
        ? { op: 'number', input, thousands }
        : { op: 'number', input, decimals, thousands };
    }
    case 'json': {
      const input = parseInput(arg, p, ctx);
      const text = textOption(raw.path, [...path, 'path'], ctx);
      const keys = text === undefined ? undefined : compileJsonPath(text);
      if (typeof keys === 'string')
        problem(
          ctx,
          [...path, 'path'],
          `${describeFound(text)} (${keys})`,
          'a JSON path such as $.items[0].name',
        );
      if (!input || keys === undefined || typeof keys === 'string') return undefined;
      return { op: 'json', input, path: keys };
    }
    case 'array': {
      const input = parseInput(arg, p, ctx);
      const join = raw.join === undefined ? ', ' : textOption(raw.join, [...path, 'join'], ctx);
      const index =
        raw.index === undefined ? undefined : intOption(raw.index, [...path, 'index'], ctx, 0, 1_000_000);
      if (!input || join === undefined || (raw.index !== undefined && index === undefined)) return undefined;
      return index === undefined ? { op: 'array', input, join } : { op: 'array', input, join, index };
    }
    case 'lookup':
      return parseLookup(raw, path, ctx);
    case 'time':
      return parseTime(raw, path, ctx);
    case 'when':
      return parseWhen(raw, path, ctx, allowed);
  }
  return undefined;
}

function parseMap(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
  allowed?: Allowed,
): Expr | undefined {
  const input = parseInput(raw.map, [...path, 'map'], ctx);
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
    raw.default === undefined ? undefined : parseValue(raw.default, [...path, 'default'], ctx, allowed);
  if (!ok || (raw.default !== undefined && !fallback)) return undefined;
  return fallback
    ? { op: 'map', input: input as Expr, values, fallback }
    : { op: 'map', input: input as Expr, values };
}

function parseLookup(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
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
  const items = Array.isArray(byRaw) ? byRaw : [byRaw];
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
  const get = parseInput(raw.get, [...path, 'get'], inner);
  if (!get || by.length !== lookup.key.length) return undefined;
  for (const k of lookup.key) ctx.useColumn(lookup.table, k);
  ctx.useLookup({ lookup, fromTable: ctx.scope.table, by });
  return { op: 'lookup', lookup: { name: lookup.name, table: lookup.table, key: lookup.key }, by, get };
}

function parseTime(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
): Expr | undefined {
  const arg = raw.time;
  const p = [...path, 'time'];
  const two = Array.isArray(arg);
  if (two && arg.length !== 2) {
    problem(ctx, p, describeFound(arg), 'one input, or a list of two: [date, time]');
    return undefined;
  }
  const inputs = (two ? arg : [arg]).map((a, i) => parseInput(a, two ? [...p, i] : p, ctx));
  const zone = raw.zone === undefined ? ctx.timeZone : zoneOption(raw.zone, [...path, 'zone'], ctx);
  if (zone !== undefined && !isValidTimeZone(zone)) return undefined; // reported where the zone is set
  if (zone === undefined && raw.zone === undefined) {
    problem(
      ctx,
      p,
      'a time with no time zone',
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
  if (inputs.some((x) => x === undefined) || zone === undefined) return undefined;
  const exprs = inputs as Expr[];
  return formats ? { op: 'time', inputs: exprs, formats, zone } : { op: 'time', inputs: exprs, zone };
}

function parseWhen(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
  allowed?: Allowed,
): Expr | undefined {
  const list = raw.when;
  const p = [...path, 'when'];
  if (!Array.isArray(list) || list.length === 0) {
    problem(ctx, p, describeFound(list), 'a non-empty list of { if: <filter>, then: <value> }');
    return undefined;
  }
  let ok = true;
  const cases: { if: import('./filter.js').Filter; then: Expr }[] = [];
  list.forEach((c, i) => {
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
    const then = parseValue(thenRaw, [...cp, 'then'], ctx, allowed);
    if (filter && then) cases.push({ if: filter, then });
    else ok = false;
  });
  const otherwise =
    raw.else === undefined
      ? ({ op: 'const', value: null } as const)
      : parseValue(raw.else, [...path, 'else'], ctx, allowed);
  if (!ok || !otherwise) return undefined;
  return { op: 'when', cases, otherwise };
}

/** An i18n text: a value (for the default locale) or an object of locale -> value. */
export type TextExpr = ReadonlyMap<string, Expr>;

export function parseText(raw: unknown, path: readonly PathKey[], ctx: ParseContext): TextExpr | undefined {
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const keys = Object.keys(raw);
    if (keys.length > 0 && keys.every((k) => LOCALE_RE.test(k))) {
      const out = new Map<string, Expr>();
      let ok = true;
      for (const k of keys) {
        if (!FEISHU_LOCALES.includes(k)) {
          problem(ctx, [...path, k], `unknown locale "${k}"`, `one of ${FEISHU_LOCALES.join(', ')}`, 'key');
          ok = false;
          continue;
        }
        const e = parseValue((raw as Record<string, unknown>)[k], [...path, k], ctx);
        if (e) out.set(k, e);
        else ok = false;
      }
      if (ok && !out.has(ctx.defaultLocale)) {
        problem(
          ctx,
          path,
          `texts for ${keys.join(', ')} only`,
          `a text for the default locale ${ctx.defaultLocale}`,
        );
        return undefined;
      }
      return ok ? out : undefined;
    }
  }
  const e = parseValue(raw, path, ctx);
  return e && new Map([[ctx.defaultLocale, e]]);
}
