import { describe, expect, it } from 'vitest';
import { parseWhereCondition } from '../../src/mapping/where-condition.js';

const parse = (text: string) => parseWhereCondition(text, '--where');

describe('operator conditions (--where, INITIAL_LOAD_WHERE)', () => {
  it('reads comparisons, in-lists, null tests, and/or/not and parentheses into a filter', () => {
    const c = parse(`status_code = '1' and (form_type in (1, 2) or not "Title" is null) and req_id >= 10`);
    expect([...c.columns].sort()).toEqual(['Title', 'form_type', 'req_id', 'status_code']);
    expect(c.filter).toEqual({
      kind: 'and',
      items: [
        { kind: 'eq', column: 'status_code', value: '1' },
        {
          kind: 'or',
          items: [
            { kind: 'in', column: 'form_type', values: new Set(['1', '2']) },
            { kind: 'not', item: { kind: 'is_null', column: 'Title', isNull: true } },
          ],
        },
        { kind: 'ge', column: 'req_id', value: '10', numeric: true },
      ],
    });
    expect(parse("title <> 'it''s'").filter).toEqual({ kind: 'ne', column: 'title', value: "it's" });
    expect(parse("{status_code: ['1', '2']}").filter).toEqual({
      kind: 'in',
      column: 'status_code',
      values: new Set(['1', '2']),
    });
  });

  it.each([
    ['true) or (select pg_sleep(1) is null', /"true" at character 1; expected a column name/],
    ["nextval('s') > 0", /"\(" at character 8; expected no function calls/],
    ["status_code = '1'; drop table x", /";" at character 18/],
    ["status_code = '1' -- comment", /"-" at character 19/],
    ['req_id::int <= 5', /":" at character 7/],
    ["status_code = '1", /an unterminated quoted text at character 15/],
    ['(status_code = 1', /the end of the condition at character 17; expected "\)"/],
    ['{status_code: {like: x}}', /^--where: status_code\.like: unknown condition "like"/],
  ])('refuses %s, saying where', (text, message) => {
    expect(() => parse(text)).toThrow(message);
  });
});
