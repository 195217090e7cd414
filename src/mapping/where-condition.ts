// Reads the row conditions an operator types (`resync --where`, APPROVAL_CDC_INITIAL_LOAD_WHERE) into
// the mapping language's Filter, so no text from a setting ever reaches SQL. Two spellings:
//   - a mapping filter in YAML flow form: `{status_code: ['1', '2'], not: {form_type: '9'}}`
//   - one SQL-like condition: `status_code = '1' and (form_type in ('1', '2') or title is not null)`,
//     with =, <>, !=, <, <=, >, >=, [not] in (...), is [not] null, and, or, not and parentheses; values
//     are quoted texts ('' for a quote), numbers, true or false. = and in compare texts exactly, as
//     the mapping filters do; <, <=, >, >= compare as numbers against a number (a column value that
//     is no number fails) and in code-point order against a text (ISO dates and times order right).
// Invariant: the result is a Filter or a CONFIG_INVALID error naming the setting and the position;
// there are no functions, subqueries, casts, comments or semicolons in either form, so a condition
// cannot leave itself or do anything but compare columns of one row with constants.
import { parse as parseYaml } from 'yaml';
import { CdcError } from '../errors.js';
import { parseFilter, type Filter } from './filter.js';
import { formatPath, type PathProblem } from './mapping-problem.js';

/** A mapping Filter plus ordered comparisons, which only the replica's SQL evaluates. */
export type WhereFilter =
  | { readonly kind: 'and' | 'or'; readonly items: readonly WhereFilter[] }
  | { readonly kind: 'not'; readonly item: WhereFilter }
  | Exclude<Filter, { kind: 'and' | 'or' | 'not' }>
  | {
      readonly kind: 'lt' | 'le' | 'gt' | 'ge';
      readonly column: string;
      readonly value: string;
      readonly numeric: boolean;
    };

const ORDERED = { '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge' } as const;

/** The parsed condition and the columns it reads. */
export interface WhereCondition {
  readonly filter: WhereFilter;
  readonly columns: readonly string[];
}

type Token =
  | { kind: 'ident'; text: string; quoted: boolean; at: number }
  | { kind: 'value'; text: string; quoted: boolean; at: number }
  | { kind: 'op'; text: string; at: number }
  | { kind: 'end'; text: ''; at: number };

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'null', 'true', 'false']);

/** Parses `text`; `label` names where it came from in errors (e.g. "--where"). */
export function parseWhereCondition(text: string, label: string): WhereCondition {
  const columns = new Set<string>();
  const trimmed = text.trim();
  if (trimmed === '') throw invalid(label, 'an empty condition', 0);
  if (trimmed.startsWith('{')) return { filter: yamlFilter(trimmed, label, columns), columns: [...columns] };
  const parser = new ConditionParser(tokenize(text, label), label, columns);
  const filter = parser.condition();
  parser.expectEnd();
  return { filter, columns: [...columns] };
}

function yamlFilter(text: string, label: string, columns: Set<string>): Filter {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 0, prettyErrors: false });
  } catch (error) {
    throw new CdcError('CONFIG_INVALID', `${label}: not a YAML filter (${(error as Error).message})`);
  }
  const problems: PathProblem[] = [];
  const filter = parseFilter(raw, [], { problems, useColumn: (c) => columns.add(c) });
  const first = problems[0];
  if (first || !filter) {
    const where = first ? `${formatPath(first.path)}: ${first.found}; expected ${first.expected}` : '';
    throw new CdcError('CONFIG_INVALID', `${label}: ${where || 'not a filter'}`);
  }
  return filter;
}

function invalid(label: string, found: string, at: number, expected?: string): CdcError {
  return new CdcError(
    'CONFIG_INVALID',
    `${label}: ${found} at character ${at + 1}${expected ? `; expected ${expected}` : ''} (a condition compares columns with constants: =, <>, in, is null, and, or, not, parentheses)`,
  );
}

function tokenize(text: string, label: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw invalid(label, 'an unterminated quoted text', at);
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i];
        i++;
      }
      tokens.push({ kind: 'value', text: value, quoted: true, at });
    } else if (c === '"') {
      const close = text.indexOf('"', i + 1);
      if (close < 0 || close === i + 1) throw invalid(label, 'an unterminated quoted column name', at);
      tokens.push({ kind: 'ident', text: text.slice(i + 1, close), quoted: true, at });
      i = close + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'ident', text: m[0], quoted: false, at });
      i += m[0].length;
    } else if (/[-0-9.]/.test(c)) {
      const m = /^-?(?:\d+(?:\.\d*)?|\.\d+)/.exec(text.slice(i));
      if (!m) throw invalid(label, `"${c}"`, at, 'a number');
      tokens.push({ kind: 'value', text: m[0], quoted: false, at });
      i += m[0].length;
    } else {
      const op = ['<>', '!=', '<=', '>=', '<', '>', '=', '(', ')', ','].find((o) => text.startsWith(o, i));
      if (!op) throw invalid(label, `"${c}"`, at, 'a column, a constant or one of = <> < <= > >= ( ) ,');
      tokens.push({ kind: 'op', text: op, at });
      i += op.length;
    }
  }
  tokens.push({ kind: 'end', text: '', at: text.length });
  return tokens;
}

/** Recursive descent: or > and > not > comparison. */
class ConditionParser {
  #i = 0;
  readonly tokens: Token[];
  readonly label: string;
  readonly columns: Set<string>;

  constructor(tokens: Token[], label: string, columns: Set<string>) {
    this.tokens = tokens;
    this.label = label;
    this.columns = columns;
  }

  condition(): WhereFilter {
    const items = [this.#conjunction()];
    while (this.#keyword('or')) items.push(this.#conjunction());
    return items.length === 1 ? (items[0] as WhereFilter) : { kind: 'or', items };
  }

  expectEnd(): void {
    const t = this.#peek();
    if (t.kind !== 'end') throw this.#unexpected(t, 'and, or, or the end of the condition');
  }

  #conjunction(): WhereFilter {
    const items = [this.#negation()];
    while (this.#keyword('and')) items.push(this.#negation());
    return items.length === 1 ? (items[0] as WhereFilter) : { kind: 'and', items };
  }

  #negation(): WhereFilter {
    if (this.#keyword('not')) return { kind: 'not', item: this.#negation() };
    if (this.#op('(')) {
      const inner = this.condition();
      this.#expectOp(')');
      return inner;
    }
    return this.#comparison();
  }

  #comparison(): WhereFilter {
    const t = this.#next();
    if (t.kind !== 'ident' || (!t.quoted && KEYWORDS.has(t.text.toLowerCase())))
      throw this.#unexpected(t, 'a column name');
    const column = t.text;
    this.columns.add(column);
    const after = this.#peek();
    if (after.kind === 'op' && after.text === '(') throw this.#unexpected(after, 'no function calls');
    if (this.#keyword('is')) {
      const negated = this.#keyword('not');
      if (!this.#keyword('null')) throw this.#unexpected(this.#peek(), 'null');
      return { kind: 'is_null', column, isNull: !negated };
    }
    const notIn = this.#keyword('not');
    if (this.#keyword('in')) {
      this.#expectOp('(');
      const values = new Set([this.#value()]);
      while (this.#op(',')) values.add(this.#value());
      this.#expectOp(')');
      return { kind: notIn ? 'not_in' : 'in', column, values };
    }
    if (notIn) throw this.#unexpected(this.#peek(), 'in');
    if (this.#op('=')) return { kind: 'eq', column, value: this.#value() };
    if (this.#op('<>') || this.#op('!=')) return { kind: 'ne', column, value: this.#value() };
    for (const [op, kind] of Object.entries(ORDERED)) {
      if (!this.#op(op)) continue;
      const t = this.#peek();
      const numeric = t.kind === 'value' && !t.quoted;
      return { kind, column, value: this.#value(), numeric };
    }
    throw this.#unexpected(this.#peek(), '=, <>, <, <=, >, >=, in, not in or is [not] null');
  }

  #value(): string {
    const t = this.#next();
    if (t.kind === 'value') return t.text;
    if (t.kind === 'ident' && !t.quoted && /^(true|false)$/i.test(t.text))
      return t.text.toLowerCase() === 'true' ? 't' : 'f';
    throw this.#unexpected(t, "a constant ('text', a number, true or false)");
  }

  #peek(): Token {
    return this.tokens[this.#i] as Token;
  }

  #next(): Token {
    const t = this.#peek();
    if (t.kind !== 'end') this.#i++;
    return t;
  }

  #keyword(word: string): boolean {
    const t = this.#peek();
    if (t.kind === 'ident' && !t.quoted && t.text.toLowerCase() === word) {
      this.#i++;
      return true;
    }
    return false;
  }

  #op(text: string): boolean {
    const t = this.#peek();
    if (t.kind === 'op' && t.text === text) {
      this.#i++;
      return true;
    }
    return false;
  }

  #expectOp(text: string): void {
    if (!this.#op(text)) throw this.#unexpected(this.#peek(), `"${text}"`);
  }

  #unexpected(t: Token, expected: string): CdcError {
    const found =
      t.kind === 'end'
        ? 'the end of the condition'
        : t.kind === 'value'
          ? `the constant '${t.text}'`
          : `"${t.text}"`;
    return invalid(this.label, found, t.at, expected);
  }
}
