import { describe, expect, it } from 'vitest';
import { formatLsn, maxLsn, parseLsn } from '../../src/core/lsn.js';

describe('LSNs', () => {
  it('orders padded and unpadded forms by value, not by text', () => {
    expect(parseLsn('0/97F73B8')).toBe(parseLsn('00000000/097F73B8'));
    // As strings "0/A0000000" < "0/9" would be false; as numbers it is the larger one.
    expect(parseLsn('0/A0000000') > parseLsn('0/9FFFFFFF')).toBe(true);
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
  });
  it('round-trips through the text form', () => {
    for (const text of ['0/0', '0/16B3748', '1A/FF000001', 'FFFFFFFF/FFFFFFFF'])
      expect(formatLsn(parseLsn(text))).toBe(text);
  });
  it('parses positions on both sides of 2^53 and with surrounding blanks alike', () => {
    expect(parseLsn('1FFFFF/FFFFFFFF')).toBe((0x1fffffn << 32n) | 0xffffffffn);
    expect(parseLsn('200000/1')).toBe((0x200000n << 32n) | 1n);
    expect(parseLsn('ab/cDeF')).toBe((0xabn << 32n) | 0xcdefn);
    expect(parseLsn(' 1/2 ')).toBe((1n << 32n) | 2n);
  });
  it('refuses text that is not an LSN', () => {
    expect(() => parseLsn('1/')).toThrow(/not an LSN/);
    expect(() => parseLsn('/1')).toThrow(/not an LSN/);
    expect(() => parseLsn('123456789/0')).toThrow(/not an LSN/);
    expect(() => parseLsn('0/1/2')).toThrow(/not an LSN/);
    expect(() => parseLsn('12345')).toThrow(/not an LSN/);
    expect(() => parseLsn('0/xyz')).toThrow(/not an LSN/);
  });
  it('keeps the larger of two positions', () => {
    expect(maxLsn(5n, 7n)).toBe(7n);
    expect(maxLsn(9n, 7n)).toBe(9n);
  });
});
