// The words stages share about instance rows: sync lanes, the backfill priority and the id of an
// instance in the replica. Invariant: instanceIdOf is the one way an InstanceRef becomes the key
// of its `instance` row, so every stage finds the same row for the same ref; the id fits a btree
// entry whatever the key's length (a long key is named by its digest, see boundedId).
import { createHash } from 'node:crypto';
import type { InstanceRef } from '../mapping/contract.js';
import { jsonKey } from './json-key.js';

/** Changes streamed live: synced first. */
export const LANE_LIVE = 0;
/**
 * Streamed changes of a transaction that dirtied more instances than the bulk threshold (a data fix,
 * a batch job): below live, so a user's own change never waits behind one, above the backfill.
 */
export const LANE_BULK = 1;
/** The initial load and re-syncs: synced in the budget live work leaves. */
export const LANE_BACKFILL = 2;

/** Lane names as metrics, status and the console show them, by lane number. */
export const LANE_NAMES = ['live', 'bulk', 'backfill'] as const;
export type LaneName = (typeof LANE_NAMES)[number];

/** The name of a lane number (an unknown number reads as the lowest lane, backfill). */
export function laneName(lane: number): LaneName {
  return LANE_NAMES[lane] ?? 'backfill';
}

/** Backfill order of an instance: open approvals above closed ones, newer above older. */
export const OPEN_PRIORITY = 10_000_000_000_000n;

/**
 * Longest id kept as it is (UTF-16 units: at most 1,024 bytes in UTF-8, well inside Postgres's
 * 2,704-byte btree entry even next to other columns). Every id stored before this limit existed
 * was shorter: a longer one could not be stored at all.
 */
export const MAX_RAW_ID = 256;
const PREFIX = 64;

export function instanceIdOf(ref: InstanceRef): string {
  // Per touched row: no spread (it reserves room to grow) for the usual one-column key.
  return boundedId(
    jsonKey(ref.key.length === 1 ? [ref.mapping, ref.key[0] as string] : [ref.mapping, ...ref.key]),
  );
}

/**
 * `id` itself when short; otherwise its first characters, then `…sha256:` and the SHA-256 of the
 * whole id. Collision-safe: a kept id is a JSON array and ends with `]`, a digested one ends with a
 * hex digit, so the two never meet, and two digested ids are equal only if their SHA-256 are.
 */
export function boundedId(id: string): string {
  if (id.length <= MAX_RAW_ID) return id;
  let cut = PREFIX;
  // Never split a surrogate pair: a lone surrogate is not valid UTF-8 and jsonb refuses it.
  const c = id.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--;
  return `${id.slice(0, cut)}…sha256:${createHash('sha256').update(id).digest('hex')}`;
}
