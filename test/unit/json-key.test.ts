import { describe, expect, it } from 'vitest';
import { jsonKey } from '../../src/replica/json-key.js';

describe('row and instance identity text', () => {
  it('is exactly what JSON.stringify writes, for plain and awkward values alike', () => {
    const values = [
      '1000001',
      'oa-request',
      '',
      ' a b ',
      'quote"d',
      'back\\slash',
      'tab\t',
      'del\u007f',
      'é',
      '金额',
      '\ud83d\ude00',
      '\ud800',
      '~!@#$%^&*()',
    ];
    for (const a of values) {
      expect(jsonKey([a])).toBe(JSON.stringify([a]));
      for (const b of values) expect(jsonKey([a, b])).toBe(JSON.stringify([a, b]));
    }
    expect(jsonKey([null])).toBe('[null]');
    expect(jsonKey(['a', null])).toBe('["a",null]');
    expect(jsonKey(['a', 'b', 'c'])).toBe('["a","b","c"]');
    expect(jsonKey([])).toBe('[]');
  });
});
