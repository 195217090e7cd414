// Decides which instances the initial load pushes, while the replica keeps every row: all, only open
// approvals, only those changed since a date, or those matching a filter. Invariant: an instance left
// out is marked synced at its current version without a push; any later change to its rows makes it
// dirty again like every other instance, so nothing is lost, only the history is not replayed.
import type { Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import type { MappingSet } from '../mapping/contract.js';
import type { WhereCondition } from '../mapping/where-condition.js';
import { InstanceTable } from './instance-table.js';
import { selectInstanceIds } from './resync.js';

export interface InitialSelection {
  mode: 'all' | 'open' | 'none';
  /** Only instances whose row changed at or after this time (epoch ms). */
  sinceMs?: number;
  /** A condition over each mapping's instance table (as `resync --where`), parsed at start-up. */
  where?: WhereCondition;
}

/** Marks the backfill instances outside the selection as synced; returns how many were left out. */
export async function applyInitialSelection(
  db: Kysely<StateDb>,
  schema: string,
  mappings: MappingSet,
  s: InitialSelection,
): Promise<number> {
  if (s.mode === 'all' && s.sinceMs === undefined && !s.where) return 0;
  const keep = s.where
    ? await selectInstanceIds({
        db,
        schema,
        mappings,
        where: s.where,
        whereLabel: 'APPROVAL_CDC_INITIAL_LOAD_WHERE',
      })
    : null;
  return new InstanceTable(db, schema).skipBackfill({ mode: s.mode, sinceMs: s.sinceMs ?? null, keep });
}
