// Parses the YAML form of values into Exprs, reporting every problem with its path. Two positions:
// a VALUE position (a field) reads a bare text as a template ("oa-{req_id}", or a constant when it
// has no placeholder); an INPUT position (what an operator reads: map, time, truncate, json, array,
// number, lookup get) reads a bare text as a column name. Objects are operators in both.
// Invariant: every column an expression reads is reported through `useColumn`, every lookup through
// `useLookup`, so the loader knows the columns of each table and the reverse paths of lookups.
// Operators with structure of their own are parsed in operator-parsers.ts, texts in text-parser.ts,
// the shared context and checks live in parse-context.ts.
import { scalarText } from './filter.js';
import type { Expr, TemplatePart } from './expression.js';
import { parseDefinition, parseFeishuUser } from './feishu-parsers.js';
import { describeFound, type PathKey } from './mapping-problem.js';
import { parseLookup, parseMap, parseTime, parseWhen, type Recurse } from './operator-parsers.js';
import {
  checkAllowed,
  column,
  COLUMN_RE,
  intOption,
  problem,
  textOption,
  type Allowed,
  type ParseContext,
} from './parse-context.js';
import { compileJsonPath } from './pg-text.js';

export type { Allowed, LookupEntry, LookupUsage, ParseContext, Scope } from './parse-context.js';

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
  definition: [],
  feishu_user: ['as', 'otherwise'],
};
const OPERATOR_LIST = Object.keys(OPERATORS).join(', ');

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

const RECURSE: Recurse = { value: parseValue, input: parseInput };

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
      return parseMap(raw, path, ctx, RECURSE, allowed);
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
      return parseLookup(raw, path, ctx, RECURSE);
    case 'time':
      return parseTime(raw, path, ctx, RECURSE);
    case 'when':
      return parseWhen(raw, path, ctx, RECURSE, allowed);
    case 'definition':
      return parseDefinition(raw, path, ctx, RECURSE);
    case 'feishu_user':
      return parseFeishuUser(raw, path, ctx, RECURSE);
  }
  return undefined;
}
