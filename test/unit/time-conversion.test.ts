import { describe, expect, it } from 'vitest';
import {
  compileFormat,
  fieldsToEpochMs,
  isValidTimeZone,
  pgTextToEpochMs,
  readWithFormat,
  type TextFormat,
} from '../../src/mapping/time-conversion.js';

const utc = (...a: [number, number, number, number?, number?, number?, number?]): number => Date.UTC(...a);

function format(text: string, part: 'date' | 'time' | 'datetime'): TextFormat {
  const f = compileFormat(text, part);
  if (typeof f === 'string') throw new Error(f);
  return f;
}

describe('time conversion', () => {
  it('reads timestamptz with any offset form and fractions', () => {
    expect(pgTextToEpochMs('2026-11-25 09:30:00+08', 'UTC')).toBe(utc(2026, 10, 25, 1, 30));
    expect(pgTextToEpochMs('2026-11-25 01:30:00.5+00', 'Asia/Shanghai')).toBe(
      utc(2026, 10, 25, 1, 30, 0, 500),
    );
    expect(pgTextToEpochMs('2026-11-25 01:30:00+05:30', 'UTC')).toBe(utc(2026, 10, 24, 20, 0));
    expect(pgTextToEpochMs('2026-11-25 01:30:00-03', 'UTC')).toBe(utc(2026, 10, 25, 4, 30));
  });

  it('places timestamp without time zone and date in Asia/Shanghai (no DST)', () => {
    expect(pgTextToEpochMs('2026-11-25 09:30:00', 'Asia/Shanghai')).toBe(utc(2026, 10, 25, 1, 30));
    expect(pgTextToEpochMs('2026-07-01 09:30:00.123456', 'Asia/Shanghai')).toBe(
      utc(2026, 6, 1, 1, 30, 0, 123),
    );
    expect(pgTextToEpochMs('2026-11-25', 'Asia/Shanghai')).toBe(utc(2026, 10, 24, 16));
  });

  it('follows DST in America/New_York: summer, winter, the gap and the overlap', () => {
    expect(pgTextToEpochMs('2026-07-01 12:00:00', 'America/New_York')).toBe(utc(2026, 6, 1, 16));
    expect(pgTextToEpochMs('2026-01-01 12:00:00', 'America/New_York')).toBe(utc(2026, 0, 1, 17));
    // 02:30 does not exist on 2026-03-08: read as 03:30 EDT
    expect(pgTextToEpochMs('2026-03-08 02:30:00', 'America/New_York')).toBe(utc(2026, 2, 8, 7, 30));
    // 01:30 happens twice on 2026-11-01: the first (EDT) is taken
    expect(pgTextToEpochMs('2026-11-01 01:30:00', 'America/New_York')).toBe(utc(2026, 10, 1, 5, 30));
  });

  it('reads infinity as null and refuses what is not a time', () => {
    expect(pgTextToEpochMs('infinity', 'UTC')).toBeNull();
    expect(() => pgTextToEpochMs('2026-02-30', 'UTC')).toThrow('"2026-02-30" is not a valid date or time');
    expect(() => pgTextToEpochMs('yesterday', 'UTC')).toThrow(
      '"yesterday" is not a Postgres date or timestamp',
    );
  });

  it('reads a date and a time from two text columns with formats', () => {
    const fields = {
      ...readWithFormat('20261125', format('YYYYMMDD', 'date')),
      ...readWithFormat('093005', format('HHmmss', 'time')),
    };
    expect(fieldsToEpochMs(fields, 'Asia/Shanghai', '')).toBe(utc(2026, 10, 25, 1, 30, 5));
    const dashed = {
      ...readWithFormat('2026-11-25', format('YYYY-MM-DD', 'date')),
      ...readWithFormat('09:30', format('HH:mm', 'time')),
    };
    expect(fieldsToEpochMs(dashed, 'Asia/Shanghai', '')).toBe(utc(2026, 10, 25, 1, 30));
    expect(() => readWithFormat('2026-11-25', format('YYYYMMDD', 'date'))).toThrow(
      'does not match the format YYYYMMDD',
    );
  });

  it('refuses bad formats and zones', () => {
    expect(compileFormat('HHMMSS', 'time')).toBe(
      'a time format holds no YYYY, MM (month) or DD; minutes are mm',
    );
    expect(compileFormat('YYYYMM', 'date')).toBe('a date format needs YYYY, MM and DD');
    expect(compileFormat('YYYY-MM-DD hh', 'datetime')).toBe(
      '"h" is not a format token (YYYY MM DD HH mm ss SSS)',
    );
    expect(isValidTimeZone('Asia/Shanghai')).toBe(true);
    expect(isValidTimeZone('Asia/Shangai')).toBe(false);
  });
});
