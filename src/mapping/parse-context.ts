// What expression parsing reads and reports through: the scope (the table whose row an expression
// reads, and its declared columns), the mapping's options, the lookups in reach, and the problem
// list; plus the small checks every operator shares (column names, allowed constants, options).
// Invariant: a column is reported through `useColumn` only once it passed the scope's declaration
// check, so the loader's column list of each table holds exactly what expressions may read.
import type { LookupDef, LookupKeyPart } from './expression.js';
import { describeFound, type PathKey, type PathProblem } from './mapping-problem.js';
import { isValidTimeZone } from './time-conversion.js';

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
  /** `path` is where the column is named (for file:line:col when the catalog lacks it). */
  readonly useColumn: (table: string, column: string, path?: readonly PathKey[]) => void;
  readonly useLookup: (usage: LookupUsage) => void;
}

/** Allowed constant outputs of a value (statuses, display methods): checked where constants appear. */
export interface Allowed {
  readonly values: readonly string[];
}

export const COLUMN_RE = /^[A-Za-z_][A-Za-z0-9_$]*$/;
export const LOCALE_RE = /^[a-z]{2}-[A-Z]{2}$/;

export function problem(
  ctx: ParseContext,
  path: readonly PathKey[],
  found: string,
  expected: string,
  at?: 'key',
): void {
  ctx.problems.push(at ? { path, at, found, expected } : { path, found, expected });
}

export function column(name: unknown, path: readonly PathKey[], ctx: ParseContext): string | undefined {
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
  ctx.useColumn(table, name, path);
  return name;
}

export function checkAllowed(
  value: string | null,
  path: readonly PathKey[],
  ctx: ParseContext,
  allowed?: Allowed,
): void {
  if (allowed && value !== null && !allowed.values.includes(value)) {
    problem(ctx, path, describeFound(value), `one of ${allowed.values.join(', ')}`);
  }
}

export function intOption(
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

export function textOption(raw: unknown, path: readonly PathKey[], ctx: ParseContext): string | undefined {
  if (typeof raw !== 'string') {
    problem(ctx, path, describeFound(raw), 'a text');
    return undefined;
  }
  return raw;
}

export function zoneOption(raw: unknown, path: readonly PathKey[], ctx: ParseContext): string | undefined {
  if (typeof raw !== 'string' || !isValidTimeZone(raw)) {
    problem(ctx, path, describeFound(raw), 'an IANA time zone such as Asia/Shanghai');
    return undefined;
  }
  return raw;
}
