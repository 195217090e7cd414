// Starts the replica for `run` and `setup` alike: checks the mapped tables against the source's
// catalog and makes sure the initial load happened (slot, snapshot copy, the lookup indexes:
// initial-load.ts) before the position to stream from is returned. Invariant: nothing streams from a slot whose copy
// has not finished; a misspelled setting or column fails before the copy starts.
import type { Kysely } from 'kysely';
import pg from 'pg';
import type { Settings } from './config/settings.js';
import type { Logger } from './core/logger.js';
import type { Lsn } from './core/lsn.js';
import type { MappingSet } from './mapping/contract.js';
import { parseWhereCondition } from './mapping/where-condition.js';
import { CheckpointStore } from './replica/checkpoint-store.js';
import type { InitialSelection } from './replica/initial-selection.js';
import { ReplicaWriter } from './replica/replica-writer.js';
import { whereTables } from './replica/resync.js';
import { SnapshotLoader } from './replica/snapshot-loader.js';
import type { StateDb } from './replica/state-schema.js';
import { assertCatalogMatches } from './source/catalog-check.js';
import { resolveTableKeys } from './source/catalog.js';
import { ensureInitialLoad, type InitialLoadOptions } from './source/initial-load.js';

export interface ReplicaStart {
  writer: ReplicaWriter;
  checkpoints: CheckpointStore;
  /** The position to stream from. */
  checkpoint: Lsn;
}

export type ReplicaStartOptions = Pick<
  InitialLoadOptions,
  'resnapshot' | 'pageSize' | 'onProgress' | 'afterPage'
> & {
  settings: Settings;
  mappings: MappingSet;
  /** The state database, and the pool under it (the copy streams into it with COPY). */
  db: Kysely<StateDb>;
  pool: pg.Pool;
  logger: Logger;
};

export async function startReplica(o: ReplicaStartOptions): Promise<ReplicaStart> {
  const { settings: s, mappings } = o;
  const selection = selectionOf(s, mappings);
  const source = new pg.Client({ connectionString: s.sourceUrl, application_name: 'approval-cdc-catalog' });
  source.on('error', () => undefined);
  await source.connect();
  let tableKeys: Map<string, string[]>;
  try {
    await assertCatalogMatches(source, mappings);
    tableKeys = await resolveTableKeys(source, mappings);
  } finally {
    await source.end().catch(() => undefined);
  }
  const writer = new ReplicaWriter(o.db, s.stateSchema, mappings, tableKeys, s.slotName, s.bulkThreshold);
  const checkpoints = new CheckpointStore(o.db, s.stateSchema);
  const loader = new SnapshotLoader(o.pool, s.stateSchema, mappings, s.slotName, tableKeys);
  const checkpoint = await ensureInitialLoad({
    sourceUrl: s.sourceUrl,
    slot: s.slotName,
    publication: s.publicationName,
    mappings,
    tableKeys,
    writer,
    loader,
    checkpoints,
    logger: o.logger,
    db: o.db,
    stateSchema: s.stateSchema,
    selection,
    pageSize: o.pageSize ?? s.snapshotPageRows,
    concurrency: s.snapshotConcurrency,
    ...(o.resnapshot ? { resnapshot: true } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.afterPage ? { afterPage: o.afterPage } : {}),
  });
  return { writer, checkpoints, checkpoint };
}

function selectionOf(s: Settings, mappings: MappingSet): InitialSelection {
  const label = 'APPROVAL_CDC_INITIAL_LOAD_WHERE';
  const where = s.initialLoadWhere === undefined ? undefined : parseWhereCondition(s.initialLoadWhere, label);
  // Checked before anything starts: a misspelled column fails now, not after the copy.
  if (where) whereTables(mappings, {}, where.columns, label);
  return {
    mode: s.initialLoad,
    ...(s.initialLoadSince ? { sinceMs: s.initialLoadSince.getTime() } : {}),
    ...(where ? { where } : {}),
  };
}
