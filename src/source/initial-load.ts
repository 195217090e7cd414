// Owns the first start (and a re-snapshot): publication, slot with exported snapshot, copy of the
// mapped tables under it, then the switch to streaming. Invariants: no gap and no double count (the
// copy reads the snapshot the slot starts from); a crash at any point resumes safely (the checkpoint
// row says which phase we are in, and the copy's progress); a slot that vanished while we were
// streaming is reported, never silently recreated (that would skip every change in between); a
// first load copies without the replica's lookup indexes, and every start builds the missing ones
// before it streams or runs any other copy.
import type { Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import pg from 'pg';
import { applyInitialSelection, type InitialSelection } from '../replica/initial-selection.js';
import { CdcError } from '../errors.js';
import type { MappingSet } from '../mapping/contract.js';
import type { Logger } from '../core/logger.js';
import type { CheckpointStore } from '../replica/checkpoint-store.js';
import { InstanceTable } from '../replica/instance-table.js';
import type { ReplicaWriter } from '../replica/replica-writer.js';
import type { SnapshotLoader } from '../replica/snapshot-loader.js';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn.js';
import { createSlotWithSnapshot, dropSlot, readSlot, slotDatabase } from './slot-admin.js';
import { ensureSourceAccess } from './source-access.js';
import type { TableProgress } from '../core/copy-progress.js';
import { copySnapshot } from './snapshot-copy.js';
import { dropRowQueryIndexes, ensureRowQueryIndexes } from '../replica/row-query.js';

export interface InitialLoadOptions {
  sourceUrl: string;
  slot: string;
  publication: string;
  mappings: MappingSet;
  tableKeys: ReadonlyMap<string, readonly string[]>;
  writer: ReplicaWriter;
  /** Writes the copied chunks into the replica (COPY into staging, then a set-based merge). */
  loader: SnapshotLoader;
  checkpoints: CheckpointStore;
  logger: Logger;
  /** Drop whatever slot exists and copy everything again (recovery from a lost slot). */
  resnapshot?: boolean;
  /** Which copied instances are pushed. */
  selection: InitialSelection;
  /** The state database, where the selection marks instances left out as synced. */
  db: Kysely<StateDb>;
  stateSchema: string;
  pageSize?: number;
  /** Tables copied at once (APPROVAL_CDC_SNAPSHOT_CONCURRENCY). */
  concurrency?: number;
  onProgress?(table: string, progress: TableProgress): void;
  afterPage?(table: string, copied: number): void | Promise<void>;
}

/** Makes sure the slot exists and the replica holds its snapshot; returns the checkpoint to stream from. */
export async function ensureInitialLoad(o: InitialLoadOptions): Promise<Lsn> {
  const admin = new pg.Client({ connectionString: o.sourceUrl, application_name: 'approval-cdc-setup' });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    // Rights first, publication second, slot last: a role that lacks something is told so (with the
    // SQL) before anything that retains WAL exists.
    await ensureSourceAccess(admin, o.publication, [...o.mappings.tables.keys()]);
    let slot = await readSlot(admin, o.slot);
    let checkpoint = await o.checkpoints.read(o.slot);
    // A slot found while the checkpoint says "creating" was made by a start killed before it recorded
    // the slot's snapshot: that snapshot is gone, so the slot is made again.
    if (slot && (o.resnapshot || checkpoint?.phase === 'creating')) {
      await dropSlot(admin, o.slot);
      slot = null;
    }
    if (slot && slot.walStatus === 'lost') {
      throw new CdcError(
        'SOURCE_SLOT_LOST',
        `replication slot ${o.slot} was invalidated (wal_status=lost); run \`approval-cdc setup --resnapshot\``,
      );
    }
    if (!slot && checkpoint?.phase === 'streaming' && !o.resnapshot) {
      throw new CdcError(
        'SOURCE_SLOT_MISSING',
        `replication slot ${o.slot} is gone (dropped, or lost in a failover) though the replica streamed from it up to ${formatLsn(checkpoint.lsn)}; changes since then cannot be streamed. Run \`approval-cdc setup --resnapshot\` to copy the tables again`,
      );
    }
    if (slot && checkpoint?.phase === 'streaming') {
      await ensureRowQueryIndexes(o.db, o.stateSchema, o.mappings.queryColumns);
      return checkpoint.lsn;
    }
    if (slot && !checkpoint) {
      throw new CdcError(
        'SOURCE_SETUP',
        `replication slot ${o.slot} exists but the state database has no checkpoint for it (another connector's slot?); drop it or run \`approval-cdc setup --resnapshot\``,
      );
    }
    let snapshotName: string | null = null;
    let exporter: pg.Client | null = null;
    // A copy made before (a consistent point recorded) means rows may have gone since: sweep them.
    const resnapshot = checkpoint?.consistentLsn != null && !slot;
    // Not a first load (nor its resumption): the replica holds images from before, so the copy
    // follows lookups and sweeps what has gone.
    const again = resnapshot || o.resnapshot === true;
    if (!slot) {
      const elsewhere = await slotDatabase(admin, o.slot);
      if (elsewhere) {
        throw new CdcError(
          'SOURCE_SETUP',
          `a replication slot named ${o.slot} already exists for database ${elsewhere}; slot names are global to the server: choose another APPROVAL_CDC_SLOT`,
        );
      }
      await o.checkpoints.beginCreating(o.slot);
      // Read before the slot exists: every change the slot streams is after it. The consistent point
      // is not: a transaction the builder decodes in full can still be open there, with changes
      // before it that the exported snapshot does not see; copied images placed below the
      // consistent point would win over those changes, and the replica would keep the old row.
      const beforeSlot = parseLsn(await currentWalLsn(admin));
      const created = await createSlotWithSnapshot(o.sourceUrl, o.slot);
      exporter = created.connection;
      snapshotName = created.snapshotName;
      await o.checkpoints.beginSnapshot(o.slot, created.consistentPoint, beforeSlot);
      await new InstanceTable(o.db, o.stateSchema).clearStreamHolds();
      checkpoint = await o.checkpoints.read(o.slot);
      o.logger.info(
        { slot: o.slot, consistentPoint: formatLsn(created.consistentPoint) },
        'slot created; copying mapped tables under its snapshot',
      );
    } else {
      o.logger.info({ slot: o.slot }, 'resuming an interrupted snapshot copy under a fresh snapshot');
    }
    if (!checkpoint?.consistentLsn) throw new CdcError('SOURCE_SETUP', 'checkpoint row lost during setup');
    const consistentLsn = checkpoint.consistentLsn;
    const copyLsn = checkpoint.copyLsn ?? consistentLsn;
    try {
      const tables = new Map<string, { keyColumns: readonly string[]; columns: readonly string[] }>();
      for (const [table, use] of o.mappings.tables)
        tables.set(table, { keyColumns: o.tableKeys.get(table) ?? [], columns: use.columns });
      // A first load (or its resumption) follows no lookups (SnapshotLoader): its images go in
      // without the lookup indexes, which are built once over them when the copy ends. A
      // re-snapshot follows lookups: it needs them from the start.
      if (again) await ensureRowQueryIndexes(o.db, o.stateSchema, o.mappings.queryColumns);
      else await dropRowQueryIndexes(o.db, o.stateSchema);
      await copySnapshot({
        sourceUrl: o.sourceUrl,
        snapshotName,
        snapshotLsn: copyLsn,
        tables,
        instanceTables: new Set(
          o.mappings.mappingNames.flatMap((m) => o.mappings.instanceTableOf?.(m) ?? []),
        ),
        loader: o.loader,
        progress: checkpoint.progress,
        saveProgress: (p) => o.checkpoints.saveProgress(o.slot, p),
        ...(o.pageSize ? { pageSize: o.pageSize } : {}),
        ...(o.concurrency ? { concurrency: o.concurrency } : {}),
        ...(o.onProgress ? { onPage: o.onProgress } : {}),
        ...(o.afterPage ? { afterPage: o.afterPage } : {}),
      });
    } finally {
      await exporter?.end().catch(() => undefined);
    }
    await ensureRowQueryIndexes(o.db, o.stateSchema, o.mappings.queryColumns);
    if (again) {
      for (const table of o.mappings.tables.keys()) {
        const swept = await o.writer.sweepStale(table, copyLsn);
        if (swept > 0)
          o.logger.info({ table, rows: swept }, 'rows gone since the last snapshot marked deleted');
      }
    }
    if (!again) {
      const left = await applyInitialSelection(o.db, o.stateSchema, o.mappings, o.selection);
      if (left > 0)
        o.logger.info(
          { instances: left },
          'initial load: instances outside the selection kept in the replica, not pushed',
        );
    }
    await new InstanceTable(o.db, o.stateSchema).analyze();
    // A copy resumed under fresh snapshots holds rows inserted after the consistent point, placed at
    // the copy's LSN: the stream must read the image of every insert it replays up to here, not
    // take one beyond the old horizon for unstored (an insert and delete in one batch would then
    // leave the copied row standing). Read after the copy, so it is past every fresh snapshot.
    const horizon = snapshotName === null ? parseLsn(await currentWalLsn(admin)) : undefined;
    await o.checkpoints.finishSnapshot(o.slot, horizon);
    o.logger.info({ slot: o.slot }, 'snapshot copy complete; streaming starts at the consistent point');
    return consistentLsn;
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function currentWalLsn(admin: pg.Client): Promise<string> {
  const { rows } = await admin.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
  return rows[0]?.lsn ?? '0/0';
}
