import { describe, expect, it } from 'vitest';
import type { LoadedRow, RowImage, RowQuery } from '../../src/mapping/contract.js';
import { evaluate, EvalError, type Expr } from '../../src/mapping/expression.js';
import {
  parseValue,
  type LookupEntry,
  type LookupUsage,
  type ParseContext,
} from '../../src/mapping/expression-parser.js';
import type { PathProblem } from '../../src/mapping/mapping-problem.js';
import { FakeRows } from '../support/fake-rows.js';

const lookups = new Map<string, LookupEntry>([
  ['users', { name: 'users', table: 'oa.users', key: ['user_no'] }],
  ['depts', { name: 'depts', table: 'oa.depts', key: ['dept_code'] }],
  ['codes', { name: 'codes', table: 'oa.codes', key: ['category', 'code'] }],
]);

function parse(
  raw: unknown,
  opts: Partial<ParseContext> = {},
): { expr?: Expr; problems: PathProblem[]; columns: string[]; usages: LookupUsage[] } {
  const problems: PathProblem[] = [];
  const columns: string[] = [];
  const usages: LookupUsage[] = [];
  const expr = parseValue(raw, ['v'], {
    problems,
    scope: { table: 'oa.requests' },
    nullInTemplates: 'empty',
    timeZone: 'Asia/Shanghai',
    defaultLocale: 'zh-CN',
    lookups,
    useColumn: (t, c) => columns.push(`${t}.${c}`),
    useLookup: (u) => usages.push(u),
    ...opts,
  });
  return expr ? { expr, problems, columns, usages } : { problems, columns, usages };
}

const db = new FakeRows()
  .add('oa.users', { user_no: '5', feishu_uid: 'ou5', dept_code: 'FIN' })
  .add('oa.users', { user_no: '6', feishu_uid: null, dept_code: null })
  .tombstone('oa.users', { user_no: '7', feishu_uid: 'gone', dept_code: 'FIN' })
  .add('oa.depts', { dept_code: 'FIN', name: '财务部' })
  .add('oa.codes', { category: 'node', code: 'N1', label: '初审' });

function ev(
  raw: unknown,
  row: RowImage,
  load: (q: RowQuery) => readonly LoadedRow[] | undefined = (q) => db.query(q),
): string | null {
  const { expr, problems } = parse(raw);
  if (!expr) throw new Error(JSON.stringify(problems));
  return evaluate(expr, { row, load, notes: [] });
}

describe('value expressions', () => {
  const row = {
    id: '42',
    title: '报销',
    note: null,
    code: '2',
    amount: '1234567.505',
    json: '{"a": {"b": [1, 2.50, "x"]}, "n": null}',
    tags: '{red,"dark blue",NULL}',
    flag: 't',
    user: '5',
    at: '2026-11-25 09:30:00',
    d: '20261125',
    t: '0930',
  };

  it('constants, columns and templates (null -> empty text, or null when asked)', () => {
    expect(ev('plain', row)).toBe('plain');
    expect(ev(true, row)).toBe('t');
    expect(ev('12.50', row)).toBe('12.50');
    expect(ev(null, row)).toBeNull();
    expect(ev({ const: 'x' }, row)).toBe('x');
    expect(ev({ column: 'note' }, row)).toBeNull();
    expect(ev('req-{id}: {title}{note}', row)).toBe('req-42: 报销');
    expect(ev({ template: '{id}-{note}', on_null: 'null' }, row)).toBeNull();
    expect(ev('{{literal}} {id}', row)).toBe('{literal} 42');
  });

  it('value maps with default, and booleans as t/f keys', () => {
    expect(ev({ map: 'code', values: { 1: 'a', 2: 'b' } }, row)).toBe('b');
    expect(ev({ map: 'title', values: { x: 'a' }, default: 'other-{id}' }, row)).toBe('other-42');
    expect(ev({ map: 'note', values: { x: 'a' } }, row)).toBeNull();
    expect(ev({ map: 'flag', values: { t: 'yes', f: 'no' } }, row)).toBe('yes');
  });

  it('coalesce, concat, truncate (by characters), number formatting', () => {
    expect(ev({ coalesce: [{ column: 'note' }, { column: 'title' }] }, row)).toBe('报销');
    expect(ev({ concat: ['¥', { number: 'amount', decimals: 2, thousands: true }] }, row)).toBe(
      '¥1,234,567.51',
    );
    expect(ev({ truncate: 'title', length: 1 }, row)).toBe('报');
    expect(ev({ truncate: 'amount', length: 5, ellipsis: '…' }, row)).toBe('1234…');
    expect(ev({ number: 'amount', decimals: 0 }, row)).toBe('1234568');
    expect(() => ev({ number: 'title' }, row)).toThrow(EvalError);
  });

  it('JSON paths keep numbers exact and return JSON for objects', () => {
    expect(ev({ json: 'json', path: '$.a.b[1]' }, row)).toBe('2.50');
    expect(ev({ json: 'json', path: '$.a.b[2]' }, row)).toBe('x');
    expect(ev({ json: 'json', path: '$.a' }, row)).toBe('{"b":[1,2.50,"x"]}');
    expect(ev({ json: 'json', path: '$.n' }, row)).toBeNull();
    expect(ev({ json: 'json', path: '$.missing.deeper' }, row)).toBeNull();
    expect(() => ev({ json: 'title', path: '$.a' }, row)).toThrow('is not JSON');
  });

  it('Postgres arrays: join (NULL elements left out) or one element', () => {
    expect(ev({ array: 'tags' }, row)).toBe('red, dark blue');
    expect(ev({ array: 'tags', index: 1 }, row)).toBe('dark blue');
    expect(ev({ array: 'tags', index: 9 }, row)).toBeNull();
  });

  it('times: timestamp in the zone, two text columns with formats, zone override', () => {
    expect(ev({ time: 'at' }, row)).toBe(String(Date.UTC(2026, 10, 25, 1, 30)));
    expect(ev({ time: 'at', zone: 'UTC' }, row)).toBe(String(Date.UTC(2026, 10, 25, 9, 30)));
    expect(ev({ time: ['d', 't'], format: ['YYYYMMDD', 'HHmm'] }, row)).toBe(
      String(Date.UTC(2026, 10, 25, 1, 30)),
    );
    expect(ev({ time: 'note' }, row)).toBeNull();
    expect(ev({ time: 'title' }, { title: '' })).toBeNull();
  });

  it('times: a mapping without time_zone reads timestamptz values, and refuses a value without an offset', () => {
    const { expr, problems } = parse({ time: 'at' }, { timeZone: undefined });
    expect(problems).toEqual([]);
    if (!expr) throw new Error('no expression');
    const at = (text: string) => evaluate(expr, { row: { at: text }, load: () => [], notes: [] });
    expect(at('2026-11-25 09:30:00+08')).toBe(String(Date.UTC(2026, 10, 25, 1, 30)));
    expect(() => at('2026-11-25 09:30:00')).toThrow(/has no UTC offset .* set time_zone/);
  });

  it('when: a case with then: null gives null although else has a value', () => {
    const endTime = { when: [{ if: { id: ['41', '42'] }, then: null }], else: { time: 'at' } };
    expect(ev(endTime, row)).toBeNull();
    expect(ev(endTime, { ...row, id: '43' })).toBe(String(Date.UTC(2026, 10, 25, 1, 30)));
  });

  it('when: the first matching case wins', () => {
    const status = {
      when: [
        { if: { flag: true }, then: 'DELETED' },
        { if: { code: '2' }, then: 'APPROVED' },
      ],
      else: 'PENDING',
    };
    expect(ev(status, row)).toBe('DELETED');
    expect(ev(status, { ...row, flag: 'f' })).toBe('APPROVED');
    expect(ev(status, { ...row, flag: 'f', code: '1' })).toBe('PENDING');
  });

  it('lookups: by column, chained, with constants; misses and tombstones give null', () => {
    expect(ev({ lookup: 'users', by: 'user', get: 'feishu_uid' }, row)).toBe('ou5');
    expect(
      ev({ lookup: 'users', by: 'user', get: { lookup: 'depts', by: 'dept_code', get: 'name' } }, row),
    ).toBe('财务部');
    expect(ev({ lookup: 'codes', by: [{ const: 'node' }, 'title'], get: 'label' }, { title: 'N1' })).toBe(
      '初审',
    );
    expect(ev({ lookup: 'users', by: 'user', get: 'feishu_uid' }, { user: '6' })).toBeNull();
    expect(ev({ lookup: 'users', by: 'user', get: 'feishu_uid' }, { user: '7' })).toBeNull();
    expect(ev({ lookup: 'users', by: 'user', get: 'feishu_uid' }, { user: null })).toBeNull();
    expect(() => ev({ lookup: 'users', by: 'user', get: 'feishu_uid' }, row, () => undefined)).toThrow(
      'lookup users (user_no=5) was not loaded',
    );
  });

  it('records the columns read per table and the lookup paths back', () => {
    const { columns, usages } = parse({
      lookup: 'users',
      by: 'user',
      get: { lookup: 'depts', by: 'dept_code', get: 'name' },
    });
    expect(columns.sort()).toEqual([
      'oa.depts.dept_code',
      'oa.depts.name',
      'oa.requests.user',
      'oa.users.dept_code',
      'oa.users.user_no',
    ]);
    expect(usages.map((u) => [u.lookup.name, u.fromTable, u.by])).toEqual([
      ['depts', 'oa.users', [{ column: 'dept_code' }]],
      ['users', 'oa.requests', [{ column: 'user' }]],
    ]);
  });

  it('reports misuse with paths', () => {
    expect(parse({ map: 'code' }).problems).toEqual([
      { path: ['v', 'values'], found: 'nothing', expected: 'an object of input value to output value' },
    ]);
    expect(parse({ column: 'a', ellipsis: 'x' }).problems).toEqual([
      {
        path: ['v', 'ellipsis'],
        at: 'key',
        found: 'unknown key "ellipsis"',
        expected: 'only the key column',
      },
    ]);
    expect(parse(['a']).problems[0]?.found).toBe('a list of 1');
    expect(parse({ time: 'at', format: 'YYYYMMDD' }, { timeZone: undefined }).problems[0]?.expected).toBe(
      'time_zone on the mapping or in defaults, or zone on this operator',
    );
    expect(parse({ coalesce: [] }).problems[0]?.expected).toBe('a non-empty list of values');
    expect(parse({ time: ['d'] }).problems[0]?.expected).toBe('one input, or a list of two: [date, time]');
  });
});
