import { describe, expect, it } from 'vitest';
import { matchesFilter, parseFilter, type Filter } from '../../src/mapping/filter.js';
import type { PathProblem } from '../../src/mapping/mapping-problem.js';

function filter(raw: unknown): Filter {
  const problems: PathProblem[] = [];
  const f = parseFilter(raw, ['where'], { problems, useColumn: () => undefined });
  if (!f) throw new Error(JSON.stringify(problems));
  return f;
}

describe('row filters', () => {
  const row = { kind: 'TASK', state: '1', deleted_at: null, flag: 't' };

  it('equality, in-set, is-null and not-null', () => {
    expect(matchesFilter(filter({ kind: 'TASK' }), row)).toBe(true);
    expect(matchesFilter(filter({ kind: 'CC' }), row)).toBe(false);
    expect(matchesFilter(filter({ state: ['1', '2'] }), row)).toBe(true);
    expect(matchesFilter(filter({ state: { in: ['3'] } }), row)).toBe(false);
    expect(matchesFilter(filter({ state: { not_in: ['3'] } }), row)).toBe(true);
    expect(matchesFilter(filter({ state: { ne: '1' } }), row)).toBe(false);
    expect(matchesFilter(filter({ deleted_at: null }), row)).toBe(true);
    expect(matchesFilter(filter({ deleted_at: { is_null: false } }), row)).toBe(false);
    expect(matchesFilter(filter({ state: { is_null: false } }), row)).toBe(true);
  });

  it('a YAML boolean compares with the bool text "t"/"f"', () => {
    expect(matchesFilter(filter({ flag: true }), row)).toBe(true);
    expect(matchesFilter(filter({ flag: false }), row)).toBe(false);
  });

  it('NULL fails equality, inequality and in-set; a missing column reads as NULL', () => {
    expect(matchesFilter(filter({ deleted_at: 'x' }), row)).toBe(false);
    expect(matchesFilter(filter({ deleted_at: { ne: 'x' } }), row)).toBe(false);
    expect(matchesFilter(filter({ deleted_at: { not_in: ['x'] } }), row)).toBe(false);
    expect(matchesFilter(filter({ absent: null }), row)).toBe(true);
  });

  it('and, or, not, and several keys meaning all of them', () => {
    expect(matchesFilter(filter({ kind: 'TASK', state: '2' }), row)).toBe(false);
    expect(matchesFilter(filter({ or: [{ kind: 'CC' }, { state: '1' }] }), row)).toBe(true);
    expect(matchesFilter(filter({ and: [{ kind: 'TASK' }, { not: { state: '2' } }] }), row)).toBe(true);
    expect(matchesFilter(filter({ not: { or: [{ kind: 'TASK' }, { kind: 'CC' }] } }), row)).toBe(false);
  });

  it('reports bad conditions with their paths', () => {
    const problems: PathProblem[] = [];
    parseFilter({ a: { like: 'x' }, or: [], b: { in: [] }, c: { is_null: 'yes' } }, ['where'], {
      problems,
      useColumn: () => undefined,
    });
    expect(problems).toEqual([
      {
        path: ['where', 'a', 'like'],
        at: 'key',
        found: 'unknown condition "like"',
        expected: 'one of eq, ne, in, not_in, is_null',
      },
      { path: ['where', 'or'], found: 'a list of 0', expected: 'a non-empty list of filters for or' },
      { path: ['where', 'b', 'in'], found: 'a list of 0', expected: 'a non-empty list of values' },
      { path: ['where', 'c', 'is_null'], found: '"yes"', expected: 'true or false' },
    ]);
  });
});
