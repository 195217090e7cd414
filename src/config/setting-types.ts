// Owns the value types of settings: each zod type carries, as its error message, what it accepts, so
// a bad value is reported as "<variable>: found <value>; accepted <what>". Pure. Invariant: a value
// is parsed fully here (URLs, addresses, dates), never half-checked and failing later at use.
import { z } from 'zod';
import { LISTEN_ADDRESS_ACCEPTS, parseListenAddress } from './listen-address.js';

/** A whole number of at least `min` (environment text or a number in a config file). */
export function int(min: number) {
  const accepts = `a whole number >= ${min}`;
  return z.coerce.number({ error: accepts }).int({ error: accepts }).min(min, { error: accepts });
}

/** A number in [min, max]. */
export function fraction(min: number, max: number) {
  const accepts = `a number from ${min} to ${max}`;
  return z.coerce.number({ error: accepts }).min(min, { error: accepts }).max(max, { error: accepts });
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `one of ${values.join(', ')}` });
}

export const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])], { error: 'true, false, 1 or 0' })
  .transform((v) => v === true || v === 'true' || v === '1');

const POSTGRES_ACCEPTS = 'a postgres:// URL such as postgres://user:password@host:5432/database';

/** A Postgres connection URL with a host (or a socket directory in ?host=). */
export const postgresUrl = z.string({ error: POSTGRES_ACCEPTS }).refine(
  (text) => {
    try {
      const url = new URL(text);
      return (
        (url.protocol === 'postgres:' || url.protocol === 'postgresql:') &&
        (url.hostname !== '' || url.searchParams.has('host'))
      );
    } catch {
      return false;
    }
  },
  { error: POSTGRES_ACCEPTS },
);

const HTTP_ACCEPTS = 'an http:// or https:// URL such as https://open.feishu.cn';

export const httpUrl = z.string({ error: HTTP_ACCEPTS }).refine(
  (text) => {
    try {
      const url = new URL(text);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  },
  { error: HTTP_ACCEPTS },
);

/** `off`, or an address a server can listen on. */
export const listenAddress = z
  .string({ error: LISTEN_ADDRESS_ACCEPTS })
  .refine((t) => t === 'off' || parseListenAddress(t) !== null, { error: LISTEN_ADDRESS_ACCEPTS });

const DATE_ACCEPTS = 'an ISO 8601 date or time, e.g. 2024-06-01 (midnight UTC) or 2024-06-01T00:00:00+08:00';
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** A calendar date or an instant, written in ISO 8601; "yesterday" or "1" are refused. */
export const isoDate = z.union([z.date(), z.string()], { error: DATE_ACCEPTS }).transform((v, ctx) => {
  if (v instanceof Date) return v;
  const text = v.trim();
  const date = ISO_DATE.test(text) ? new Date(text.replace(' ', 'T')) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: DATE_ACCEPTS });
    return z.NEVER;
  }
  return date;
});

/** A name Postgres takes unquoted (schema, slot, publication). */
export function identifier(pattern: RegExp, accepts: string) {
  return z.string({ error: accepts }).regex(pattern, { error: accepts });
}
