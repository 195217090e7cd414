// Owns what `run` and `setup` both do before streaming: the source's row identities, the replica's
// lookup indexes, the writer, and the initial load with the configured selection. Invariant: both
// commands start the replica the same way, so `setup` followed by `run` equals `run` alone.
import type { Kysely } from 'kysely';
import pg from 'pg';
import type { Settings } from '../config/settings.js';
import type { MappingSet } from '../mapping/contract.js';
import type { Logger } from '../observe/logger.js';
import { CheckpointStore } from '../replica/checkpoint-store.js';
import type { InitialSelection } from '../replica/initial-selection.js';
import { ReplicaWriter } from '../replica/replica-writer.js';
import { ensureRowQueryIndexes } from '../replica/row-query.js';
import { resolveTableKeys } from './catalog.js';
import { ensureInitialLoad, type InitialLoadOptions } from './initial-load.js';
import type { Lsn } from './lsn.js';

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
  /** The state database. */
  db: Kysely<any>;
  logger: Logger;
};

export async function startReplica(o: ReplicaStartOptions): Promise<ReplicaStart> {
  const { settings: s, mappings } = o;
  const source = new pg.Client({ connectionString: s.sourceUrl, application_name: 'approval-cdc-catalog' });
  source.on('error', () => undefined);
  await source.connect();
  let tableKeys: Map<string, string[]>;
  try {
    tableKeys = await resolveTableKeys(source, mappings);
  } finally {
    await source.end().catch(() => undefined);
  }
  await ensureRowQueryIndexes(o.db, s.stateSchema, mappings.queryColumns);
  const writer = new ReplicaWriter(o.db, s.stateSchema, mappings, tableKeys, s.slotName);
  const checkpoints = new CheckpointStore(o.db, s.stateSchema);
  const checkpoint = await ensureInitialLoad({
    sourceUrl: s.sourceUrl,
    slot: s.slotName,
    publication: s.publicationName,
    mappings,
    tableKeys,
    writer,
    checkpoints,
    logger: o.logger,
    db: o.db,
    stateSchema: s.stateSchema,
    selection: selectionOf(s, mappings),
    pageSize: o.pageSize ?? s.snapshotPageRows,
    ...(o.resnapshot ? { resnapshot: true } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.afterPage ? { afterPage: o.afterPage } : {}),
  });
  return { writer, checkpoints, checkpoint };
}

function selectionOf(s: Settings, mappings: MappingSet): InitialSelection {
  return {
    mode: s.initialLoad,
    ...(s.initialLoadSince ? { sinceMs: s.initialLoadSince.getTime() } : {}),
    ...(s.initialLoadWhere ? { where: s.initialLoadWhere, table: onlyInstanceTable(mappings) } : {}),
  };
}

/** The instance table when all mappings share one (a `where` filter is written against it). */
function onlyInstanceTable(mappings: MappingSet): string | undefined {
  const tables = new Set(mappings.mappingNames.map((m) => mappings.instanceTableOf?.(m)));
  const [only] = [...tables];
  return tables.size === 1 ? only : undefined;
}
