// LSNs as bigint. Invariant: LSNs are never compared as strings (the replication library prints them
// unpadded, its parser pads them); every LSN crossing a stage boundary is a bigint.
import { CdcError } from '../errors.js';

export type Lsn = bigint;

/** The value of hex digits text[from..to) (1 to 8 of them), or -1. */
function hexPart(text: string, from: number, to: number): number {
  if (to <= from || to - from > 8) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// Called once per streamed change: the fast path makes one bigint instead of parsing two from
// strings (below 2^53, hi * 2^32 + lo is exact as a double).
export function parseLsn(text: string): Lsn {
  const slash = text.indexOf('/');
  const hi = hexPart(text, 0, slash);
  const lo = hi < 0 ? -1 : hexPart(text, slash + 1, text.length);
  if (lo >= 0) return hi < 0x200000 ? BigInt(hi * 4294967296 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match) throw new CdcError('INTERNAL', `not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: Lsn): string {
  if (lsn < 0n) throw new CdcError('INTERNAL', `negative LSN ${lsn}`);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}
