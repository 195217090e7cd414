// Turns Postgres date/time text (or legacy date and time text in custom formats) into the epoch
// milliseconds Feishu wants, as a decimal string. Local times are placed in an IANA zone with Intl
// only: no clock is read, so the same text and zone always give the same instant.
// Invariant: a local time that does not exist (DST gap) moves forward by the gap; one that exists
// twice (DST overlap) takes the earlier instant, as Java's ZonedDateTime and Temporal 'compatible' do.
import { CdcError } from '../errors.js';

export interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly ms: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** True when Intl knows the zone (e.g. "Asia/Shanghai", "UTC"). */
export function isValidTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/**
 * Offset of `zone` from UTC at the instant `epochMs`, in ms (local = utc + offset). Remembered per
 * zone and UTC day when the day starts and ends on the same offset (no zone changes offset twice in
 * a day): each call formats through Intl, 45 µs, most of the initial copy's own CPU for a table of
 * instance rows.
 */
function offsetAt(zone: string, epochMs: number): number {
  const day = Math.floor(epochMs / DAY);
  let days = OFFSETS.get(zone);
  if (!days) OFFSETS.set(zone, (days = new Map<number, number>()));
  const known = days.get(day);
  if (known !== undefined) return known;
  const first = formattedOffset(zone, day * DAY);
  if (first !== formattedOffset(zone, day * DAY + DAY - 1000)) return formattedOffset(zone, epochMs);
  if (days.size >= 20_000) days.clear();
  days.set(day, first);
  return first;
}

const OFFSETS = new Map<string, Map<number, number>>();

function formattedOffset(zone: string, epochMs: number): number {
  const seconds = Math.floor(epochMs / 1000) * 1000;
  const parts = formatter(zone).formatToParts(new Date(seconds));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 'NaN');
  const era = parts.find((p) => p.type === 'era')?.value;
  const year = era === 'BC' || era === 'B' ? 1 - get('year') : get('year');
  const local = utc({
    year,
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
    second: get('second'),
    ms: 0,
  });
  return local - seconds;
}

function utc(w: WallTime): number {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, w.ms);
  return d.getTime();
}

const DAY = 86_400_000;

/** The instant at which the wall clock of `zone` shows `wall`. */
export function wallToEpoch(wall: WallTime, zone: string): number {
  const asUtc = utc(wall);
  const before = offsetAt(zone, asUtc - DAY);
  const after = offsetAt(zone, asUtc + DAY);
  const candidates = [asUtc - before, asUtc - after].filter(
    (t, i) => offsetAt(zone, t) === (i === 0 ? before : after),
  );
  if (candidates.length > 0) return Math.min(...candidates);
  // In a gap: read the wall time with the offset in force before the transition (moves it forward).
  return asUtc - before;
}

function checkWall(w: WallTime): boolean {
  if (w.month < 1 || w.month > 12 || w.day < 1 || w.hour > 23 || w.minute > 59 || w.second > 59) return false;
  const probe = new Date(utc({ ...w, hour: 0, minute: 0, second: 0, ms: 0 }));
  return probe.getUTCDate() === w.day && probe.getUTCMonth() === w.month - 1;
}

// YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH[:MM[:SS]]] — Postgres' ISO output of date, timestamp, timestamptz.
const PG_RE =
  /^(\d{4,})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?)?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( BC)?$/;

/**
 * Epoch ms of a Postgres date/timestamp/timestamptz text. Values without an offset are wall times in
 * `zone`. `infinity` reads as null (never ends). Throws on text it cannot read.
 */
/**
 * `zone` places a value without an offset (timestamp, date); null when none is configured: a
 * timestamptz value always carries its offset and needs none, any other value is then an error.
 */
export function pgTextToEpochMs(text: string, zone: string | null): number | null {
  if (text === 'infinity' || text === '-infinity') return null;
  const m = PG_RE.exec(text);
  if (!m) throw new CdcError('MAPPING_UNMAPPABLE', `"${text}" is not a Postgres date or timestamp`);
  const year = m[12] ? 1 - Number(m[1]) : Number(m[1]);
  const wall: WallTime = {
    year,
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4] ?? 0),
    minute: Number(m[5] ?? 0),
    second: Number(m[6] ?? 0),
    ms: Number((m[7] ?? '').padEnd(3, '0').slice(0, 3)),
  };
  if (!checkWall(wall)) throw new CdcError('MAPPING_UNMAPPABLE', `"${text}" is not a valid date or time`);
  if (m[8] === undefined) {
    if (zone === null)
      throw new CdcError(
        'MAPPING_UNMAPPABLE',
        `"${text}" has no UTC offset (a timestamp without time zone, or a date) and the mapping sets no time zone: set time_zone on the mapping or in defaults, or zone on this time operator`,
      );
    return wallToEpoch(wall, zone);
  }
  const offset = (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) * 1000;
  return utc(wall) - (m[8] === '-' ? -offset : offset);
}

// Custom formats for legacy text columns: YYYY MM DD HH mm ss SSS and literal characters.
const TOKENS = ['YYYY', 'SSS', 'MM', 'DD', 'HH', 'mm', 'ss'] as const;
type Token = (typeof TOKENS)[number];

export interface TextFormat {
  readonly source: string;
  readonly regex: RegExp;
  readonly tokens: readonly Token[];
}

/** Compiles a format such as `YYYYMMDD`, `HHmmss`, `YYYY-MM-DD HH:mm`; returns an error text if invalid. */
export function compileFormat(source: string, part: 'date' | 'time' | 'datetime'): TextFormat | string {
  if (part === 'time' && /MM|YYYY|DD/.test(source))
    return 'a time format holds no YYYY, MM (month) or DD; minutes are mm';
  const tokens: Token[] = [];
  let re = '^';
  for (let i = 0; i < source.length;) {
    const tok = TOKENS.find((t) => source.startsWith(t, i));
    if (tok) {
      if (tokens.includes(tok)) return `${tok} appears twice`;
      tokens.push(tok);
      re += tok === 'YYYY' ? '(\\d{4})' : tok === 'SSS' ? '(\\d{3})' : '(\\d{2})';
      i += tok.length;
    } else {
      const ch = source[i] ?? '';
      if (/[A-Za-z]/.test(ch)) return `"${ch}" is not a format token (YYYY MM DD HH mm ss SSS)`;
      re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i += 1;
    }
  }
  const has = (t: Token): boolean => tokens.includes(t);
  const hasDate = has('YYYY') || has('MM') || has('DD');
  const hasTime = has('HH') || has('mm') || has('ss') || has('SSS');
  if (part === 'time' && hasDate) return 'a time format holds no YYYY, MM (month) or DD; minutes are mm';
  if (part === 'date' && hasTime) return 'a date format holds no HH, mm or ss';
  if (part !== 'time' && !(has('YYYY') && has('MM') && has('DD')))
    return 'a date format needs YYYY, MM and DD';
  if (part === 'time' && !(has('HH') && has('mm'))) return 'a time format needs HH and mm';
  if (part === 'datetime' && hasTime && !(has('HH') && has('mm'))) return 'a time part needs HH and mm';
  return { source, regex: new RegExp(`${re}$`), tokens };
}

/** Reads text with a compiled format into (partial) wall-time fields; throws when it does not match. */
export function readWithFormat(text: string, format: TextFormat): Partial<WallTime> {
  const m = format.regex.exec(text);
  if (!m) throw new CdcError('MAPPING_UNMAPPABLE', `"${text}" does not match the format ${format.source}`);
  const out: Record<string, number> = {};
  format.tokens.forEach((tok, i) => {
    const n = Number(m[i + 1]);
    const field = { YYYY: 'year', MM: 'month', DD: 'day', HH: 'hour', mm: 'minute', ss: 'second', SSS: 'ms' }[
      tok
    ];
    out[field] = n;
  });
  return out;
}

/** Epoch ms of wall-time fields read from text columns, in `zone`; throws when they are not a valid time. */
export function fieldsToEpochMs(fields: Partial<WallTime>, zone: string, shown: string): number {
  const wall: WallTime = {
    year: fields.year ?? NaN,
    month: fields.month ?? NaN,
    day: fields.day ?? NaN,
    hour: fields.hour ?? 0,
    minute: fields.minute ?? 0,
    second: fields.second ?? 0,
    ms: fields.ms ?? 0,
  };
  if (!checkWall(wall)) throw new CdcError('MAPPING_UNMAPPABLE', `"${shown}" is not a valid date or time`);
  return wallToEpoch(wall, zone);
}
