// The words stages share about instance rows: sync lanes, the backfill priority and the id of an
// instance in the replica. Invariant: instanceIdOf is the one way an InstanceRef becomes the key
// of its `instance` row, so every stage finds the same row for the same ref.
import type { InstanceRef } from '../mapping/contract.js';
import { jsonKey } from './json-key.js';

/** Changes streamed live: synced first. */
export const LANE_LIVE = 0;
/** The initial load and re-syncs: synced in the budget live work leaves. */
export const LANE_BACKFILL = 1;

/** Backfill priority: open approvals above closed ones, newer above older. */
export const OPEN_PRIORITY = 10_000_000_000_000n;

export function instanceIdOf(ref: InstanceRef): string {
  // Per touched row: no spread (it reserves room to grow) for the usual one-column key.
  return jsonKey(ref.key.length === 1 ? [ref.mapping, ref.key[0] as string] : [ref.mapping, ...ref.key]);
}
