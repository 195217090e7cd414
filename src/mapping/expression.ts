// The value expressions of the mapping language (compiled form) and their evaluation against one row.
// Every value a mapping produces (ids, texts, times, statuses, people) is an Expr evaluated here.
// Invariant: evaluation is pure: it reads the row and the rows loaded for the build, nothing else; a
// value that cannot be computed is null, and only unreadable input (bad JSON, a malformed time, a
// lookup whose rows were not loaded) throws an EvalError, which the builder turns into `unmappable`.
import type { LoadedRow, RowImage, RowQuery } from './contract.js';
import { matchesFilter, type Filter } from './filter.js';
import { formatNumberText, jsonPathValue, parsePgArray } from './pg-text.js';
import { fieldsToEpochMs, pgTextToEpochMs, readWithFormat, type TextFormat } from './time-conversion.js';
import {
  definitionQuery,
  identityQuery,
  type IdentityKind,
  type IdentityOtherwise,
  type IdType,
} from './virtual-tables.js';

/** The note a `feishu_user … otherwise: drop` leaves: the task or CC it belongs to is left out. */
export const DROP_PERSON = 'drop-person';

export type TemplatePart = string | { readonly column: string };
export type LookupKeyPart = { readonly column: string } | { readonly const: string };

export interface LookupDef {
  readonly name: string;
  readonly table: string;
  readonly key: readonly string[];
}

export type Expr =
  | { readonly op: 'const'; readonly value: string | null }
  | { readonly op: 'column'; readonly column: string }
  | {
      readonly op: 'template';
      readonly parts: readonly TemplatePart[];
      readonly onNull: 'empty' | 'null';
      /** Percent-encode substituted values (link templates); 'uri-after-first' keeps a leading base. */
      readonly encode?: 'uri' | 'uri-after-first';
    }
  | {
      readonly op: 'map';
      readonly input: Expr;
      readonly values: ReadonlyMap<string, string | null>;
      readonly fallback?: Expr;
    }
  | { readonly op: 'coalesce' | 'concat'; readonly items: readonly Expr[] }
  | { readonly op: 'truncate'; readonly input: Expr; readonly length: number; readonly ellipsis: string }
  | { readonly op: 'number'; readonly input: Expr; readonly decimals?: number; readonly thousands: boolean }
  | { readonly op: 'json'; readonly input: Expr; readonly path: readonly (string | number)[] }
  | { readonly op: 'array'; readonly input: Expr; readonly join: string; readonly index?: number }
  | {
      readonly op: 'lookup';
      readonly lookup: LookupDef;
      readonly by: readonly LookupKeyPart[];
      readonly get: Expr;
    }
  | {
      readonly op: 'time';
      readonly inputs: readonly Expr[];
      readonly formats?: readonly TextFormat[];
      /** null: no time_zone configured; only values with an offset (timestamptz) convert. */
      readonly zone: string | null;
    }
  | { readonly op: 'definition'; readonly key: Expr }
  | {
      readonly op: 'feishu_user';
      readonly attempts: readonly { readonly kind: IdentityKind; readonly input: Expr }[];
      readonly as: IdType;
      readonly otherwise: IdentityOtherwise;
    }
  | {
      readonly op: 'when';
      readonly cases: readonly { readonly if: Filter; readonly then: Expr }[];
      readonly otherwise: Expr;
    };

/** Rows for a query; undefined when the query was not loaded. */
export type RowSource = (query: RowQuery) => readonly LoadedRow[] | undefined;

export interface EvalEnv {
  readonly row: RowImage;
  readonly load: RowSource;
  /** Why values came out null (lookup misses, unmapped codes): appended to `unmappable` reasons. */
  readonly notes: string[];
}

export class EvalError extends Error {
  override readonly name = 'EvalError';
}

const cell = (row: RowImage, column: string): string | null => row[column] ?? null;

export function lookupQuery(e: Extract<Expr, { op: 'lookup' }>, row: RowImage): RowQuery | null {
  const match: Record<string, string> = {};
  for (const [i, part] of e.by.entries()) {
    const v = 'column' in part ? cell(row, part.column) : part.const;
    if (v === null) return null;
    match[e.lookup.key[i] ?? ''] = v;
  }
  return { table: e.lookup.table, match };
}

export const matchText = (match: Readonly<Record<string, string>>): string =>
  Object.entries(match)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

/** The one row a lookup uses among several live ones: the smallest image, so the choice is stable. */
export function pickRow(rows: readonly LoadedRow[]): LoadedRow | undefined {
  if (rows.length <= 1) return rows[0];
  return [...rows].sort((a, b) => {
    const x = JSON.stringify(a.values);
    const y = JSON.stringify(b.values);
    return x < y ? -1 : x > y ? 1 : 0;
  })[0];
}

export function evaluate(e: Expr, env: EvalEnv): string | null {
  switch (e.op) {
    case 'const':
      return e.value;
    case 'column':
      return cell(env.row, e.column);
    case 'template': {
      let out = '';
      for (let i = 0; i < e.parts.length; i++) {
        const part = e.parts[i] as TemplatePart;
        if (typeof part === 'string') out += part;
        else {
          const v = cell(env.row, part.column);
          if (v === null && e.onNull === 'null') return null;
          const encode = e.encode === 'uri' || (e.encode === 'uri-after-first' && i > 0);
          out += encode ? encodeURIComponent(v ?? '') : (v ?? '');
        }
      }
      return out;
    }
    case 'map': {
      const v = evaluate(e.input, env);
      if (v !== null && e.values.has(v)) return e.values.get(v) ?? null;
      if (e.fallback) return evaluate(e.fallback, env);
      env.notes.push(
        v === null ? 'the value map input is null' : `${JSON.stringify(v)} is not in the value map`,
      );
      return null;
    }
    case 'coalesce':
      for (const item of e.items) {
        const v = evaluate(item, env);
        if (v !== null) return v;
      }
      return null;
    case 'concat': {
      const parts = e.items.map((item) => evaluate(item, env));
      return parts.every((p) => p === null) ? null : parts.map((p) => p ?? '').join('');
    }
    case 'truncate': {
      const v = evaluate(e.input, env);
      if (v === null) return null;
      const chars = Array.from(v);
      if (chars.length <= e.length) return v;
      const keep = Math.max(0, e.length - Array.from(e.ellipsis).length);
      return chars.slice(0, keep).join('') + e.ellipsis;
    }
    case 'number': {
      const v = evaluate(e.input, env);
      if (v === null) return null;
      try {
        return formatNumberText(v, e.decimals, e.thousands);
      } catch (err) {
        throw new EvalError((err as Error).message);
      }
    }
    case 'json': {
      const v = evaluate(e.input, env);
      if (v === null) return null;
      try {
        return jsonPathValue(v, e.path);
      } catch {
        throw new EvalError(`${JSON.stringify(v.slice(0, 40))} is not JSON`);
      }
    }
    case 'array': {
      const v = evaluate(e.input, env);
      if (v === null) return null;
      let items: (string | null)[];
      try {
        items = parsePgArray(v);
      } catch (err) {
        throw new EvalError((err as Error).message);
      }
      if (e.index !== undefined) return items[e.index] ?? null;
      return items.filter((x): x is string => x !== null).join(e.join);
    }
    case 'lookup':
      return evaluateLookup(e, env);
    case 'time':
      return evaluateTime(e, env);
    case 'when': {
      for (const c of e.cases) if (matchesFilter(c.if, env.row)) return evaluate(c.then, env);
      return evaluate(e.otherwise, env);
    }
    case 'definition':
      return evaluateDefinition(e, env);
    case 'feishu_user':
      return evaluateFeishuUser(e, env);
  }
}

function evaluateDefinition(e: Extract<Expr, { op: 'definition' }>, env: EvalEnv): string | null {
  const key = evaluate(e.key, env);
  if (key === null) return null;
  const rows = env.load(definitionQuery(key));
  if (rows === undefined) throw new EvalError(`definition ${JSON.stringify(key)} was not loaded`);
  const code = rows[0]?.values.platform_code ?? null;
  // Parking (not a null) is right: the instance can go once the definition is applied.
  if (code === null)
    throw new EvalError(
      `definition ${JSON.stringify(key)} is not applied in Feishu (run approval-cdc definitions apply)`,
    );
  return code;
}

function evaluateFeishuUser(e: Extract<Expr, { op: 'feishu_user' }>, env: EvalEnv): string | null {
  const tried: string[] = [];
  let unloaded: string | undefined;
  for (const attempt of e.attempts) {
    const value = evaluate(attempt.input, env);
    if (value === null || value.trim() === '') continue;
    const rows = env.load(identityQuery(attempt.kind, value, e.as));
    if (rows === undefined) {
      unloaded ??= `${attempt.kind} ${value}`;
      continue;
    }
    const id = rows[0]?.values.feishu_id ?? null;
    if (id !== null) return id;
    tried.push(`${attempt.kind} ${value}`);
  }
  if (unloaded !== undefined) throw new EvalError(`the Feishu user of ${unloaded} is not resolved yet`);
  const who = tried.length
    ? tried.join(', then ')
    : `${e.attempts.map((a) => a.kind).join(' or ')} (all null)`;
  if (e.otherwise === 'park') throw new EvalError(`no Feishu user for ${who}`);
  if (e.otherwise === 'drop') {
    env.notes.push(DROP_PERSON, `no Feishu user for ${who}`);
    return null;
  }
  return e.otherwise.user;
}

function evaluateLookup(e: Extract<Expr, { op: 'lookup' }>, env: EvalEnv): string | null {
  const query = lookupQuery(e, env.row);
  if (!query) {
    env.notes.push(`lookup ${e.lookup.name}: its key is null`);
    return null;
  }
  const rows = env.load(query);
  if (rows === undefined)
    throw new EvalError(`lookup ${e.lookup.name} (${matchText(query.match)}) was not loaded`);
  const row = pickRow(rows.filter((r) => !r.deleted));
  if (!row) {
    env.notes.push(`lookup ${e.lookup.name} found no row with ${matchText(query.match)}`);
    return null;
  }
  const value = evaluate(e.get, { ...env, row: row.values });
  if (value === null)
    env.notes.push(`lookup ${e.lookup.name} found ${matchText(query.match)} with a null value`);
  return value;
}

function evaluateTime(e: Extract<Expr, { op: 'time' }>, env: EvalEnv): string | null {
  const texts = e.inputs.map((input) => evaluate(input, env));
  if (texts.some((t) => t === null || t.trim() === '')) return null;
  const values = texts as string[];
  try {
    if (!e.formats) {
      const ms = pgTextToEpochMs(values[0] ?? '', e.zone);
      return ms === null ? null : String(ms);
    }
    let fields = {};
    e.formats.forEach((format, i) => {
      fields = { ...fields, ...readWithFormat((values[i] ?? '').trim(), format) };
    });
    // A text format has no offset: the parser demands a zone whenever there is a format.
    return String(fieldsToEpochMs(fields, e.zone ?? 'UTC', values.join(' ')));
  } catch (err) {
    throw new EvalError((err as Error).message);
  }
}
