// The statements a batch's write runs: its images, the instance versions it bumps (through
// instance-table.ts), its holds (held-instances.ts), its parked changes (change-parking.ts) and the
// checkpoint. replica-writer.ts decides when and in what order batches are written; this module
// decides what one write puts in the state database. Invariants:
// - the images, versions and checkpoint of one write commit together: in the transaction it is
//   given, in one of its own, or as one statement (commitAtOnce), so the checkpoint never covers a
//   change that is not in the replica;
// - an image is only replaced by one from a later LSN (replica-statements.ts);
// - a change refused for its values is rolled back alone, recorded and its instances parked; any other
//   error fails the write (applyIsolated).
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { StateDb } from './state-schema.js';
import type { InstanceRef, MappingSet, RowImage } from '../mapping/contract.js';
import type { Lsn } from '../core/lsn.js';
import { newStaging, stageChange, touch, type TableShape } from './image-staging.js';
import type { ChangeBatch, RowChange } from './row-change.js';
import { imageDocs, NO_COMMIT, ReplicaStatements, type Commit } from './replica-statements.js';
import { InstanceTable, type Priority, type StreamHold } from './instance-table.js';
import { HeldInstances } from './held-instances.js';
import type { DirtySetFinder } from './dirty-set.js';
import { parkedReason, recordParkedChange, rowErrorState, type ParkedChange } from './change-parking.js';
import type { BulkLanes } from './bulk-lanes.js';
import { LANE_BACKFILL, LANE_BULK, LANE_LIVE } from './instance-vocabulary.js';
import { keysOf, planOf, TransactionMarks, type Plan } from './batch-plan.js';
import type { ImageReads } from './image-reads.js';

export interface ApplySummary {
  applied: number;
  skipped: number;
  instancesDirtied: number;
  /** Changes the state database refused for their values, recorded and parked. */
  parked?: ParkedChange[];
  /** Changes set aside in the bulk spool, applied later. */
  spooled?: number;
}

/**
 * How a change applied by itself holds its instances: as the plan's transactions say ('none'), all of
 * them for the stream's open transaction ('stream'), all of them for the spool ('spool').
 */
export type HoldAll = 'none' | 'stream' | 'spool';

/** What a batch holds (held-instances.ts): through its bumps, or in the spool's table. */
interface BatchHold {
  stream?: StreamHold;
  spool: readonly string[];
}

/** What a written batch says about its transactions (the live path passes the ChangeBatch). */
export type BatchCommit = Commit & Pick<ChangeBatch, 'txStarts' | 'txOpen' | 'openCommitLsn'>;

/** The parts a write needs that the writer also uses to stage batches. */
export interface WriteParts {
  readonly db: Kysely<StateDb>;
  readonly schema: string;
  readonly slot: string;
  readonly mappings: MappingSet;
  readonly shape: TableShape;
  readonly images: ImageReads;
  readonly dirty: DirtySetFinder;
  readonly bulk: BulkLanes;
}

export class BatchWrites {
  private readonly db: Kysely<StateDb>;
  private readonly schema: string;
  private readonly slot: string;
  private readonly mappings: MappingSet;
  private readonly shape: TableShape;
  private readonly images: ImageReads;
  private readonly dirty: DirtySetFinder;
  private readonly bulk: BulkLanes;
  private readonly statements: ReplicaStatements;
  private readonly instances: InstanceTable;
  private readonly held: HeldInstances;

  constructor(parts: WriteParts) {
    ({
      db: this.db,
      schema: this.schema,
      slot: this.slot,
      mappings: this.mappings,
      shape: this.shape,
      images: this.images,
      dirty: this.dirty,
      bulk: this.bulk,
    } = parts);
    this.statements = new ReplicaStatements(this.schema, this.slot);
    this.instances = new InstanceTable(this.db, this.schema);
    this.held = new HeldInstances(this.schema);
  }

  private t(name: string) {
    return sql.id(this.schema, name);
  }

  /** Every spooled transaction is in the replica whole: its instances are no longer held. */
  async releaseSpool(): Promise<void> {
    await this.held.releaseSpool().execute(this.db);
  }

  /** After a re-snapshot: rows the copy did not refresh no longer exist at the snapshot. */
  async sweepStale(table: string, snapshotLsn: Lsn): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const gone = await this.truncateTable(trx, table, snapshotLsn - 1n);
      await this.statements.checkpoint(NO_COMMIT, snapshotLsn - 1n)?.execute(trx);
      const direct = this.dirty.direct(gone.map((row) => ({ table, row })));
      const refs = await this.dirty.follow(trx, direct);
      await this.bumpInstances(trx, refs, LANE_BACKFILL, null);
      return gone.length;
    });
  }

  /**
   * Applies a batch one change at a time, each under a savepoint, in one transaction with the
   * checkpoint; a change refused for its values is rolled back, recorded and its instances parked.
   * Later batches were staged over this one's images, the refused change's included: they build on
   * it as if it had been stored (the record says it was not), which is what a replay would see too.
   */
  async applyIsolated(
    batch: ChangeBatch,
    lane: number,
    finish?: (trx: Kysely<StateDb>) => Promise<void>,
    spool = false,
  ): Promise<ApplySummary> {
    return this.db.transaction().execute(async (trx) => {
      const commit: BatchCommit = {
        endLsn: null,
        commitTime: batch.commitTime,
        ...(batch.openCommitLsn === undefined ? {} : { openCommitLsn: batch.openCommitLsn }),
      };
      const total: ApplySummary = { applied: 0, skipped: 0, instancesDirtied: 0, parked: [] };
      let imageLsn: Lsn | null = null;
      // The changes of its open last transaction (from openFrom on) hold their instances.
      const openFrom = batch.txOpen === true ? (batch.txStarts?.at(-1) ?? 0) : batch.changes.length;
      for (const [i, change] of batch.changes.entries()) {
        if (imageLsn === null || change.lsn > imageLsn) imageLsn = change.lsn;
        const hold: HoldAll = spool ? 'spool' : i >= openFrom ? 'stream' : 'none';
        await sql`savepoint one_change`.execute(trx);
        try {
          const one = await this.applyChanges(trx, [change], lane, commit, hold);
          await sql`release savepoint one_change`.execute(trx);
          total.applied += one.applied;
          total.skipped += one.skipped;
          total.instancesDirtied += one.instancesDirtied;
        } catch (error) {
          await sql`rollback to savepoint one_change`.execute(trx);
          const state = rowErrorState(error);
          if (state === null) throw error;
          const parked = await this.parkChange(trx, change, lane, commit, state, error, hold);
          total.parked?.push(parked);
          total.instancesDirtied += parked.instances;
        }
      }
      await this.statements.checkpoint(batch, imageLsn)?.execute(trx);
      await finish?.(trx);
      return total;
    });
  }

  /** Records a refused change and parks the instances its row belonged to before and after it. */
  private async parkChange(
    trx: Kysely<StateDb>,
    change: RowChange,
    lane: number,
    commit: BatchCommit,
    state: string,
    error: unknown,
    hold: HoldAll,
  ): Promise<ParkedChange> {
    const pk = change.kind === 'truncate' ? null : this.shape.pkOf(change.table, change.values);
    const staging = newStaging(
      await this.images.read(trx, [change], [pk], keysOf([change], [pk]), null, null),
    );
    if (change.kind !== 'truncate')
      stageChange(staging, this.shape, change, pk, keysOf([change], [pk])[0] ?? null);
    const refs = await this.dirty.follow(trx, this.dirty.direct(staging.touched));
    const reason = parkedReason(change, state, error);
    return recordParkedChange(
      trx,
      this.schema,
      this.slot,
      change,
      pk,
      state,
      reason,
      refs,
      async (r) => {
        const held = this.heldBy(hold, r, commit.openCommitLsn);
        await this.bumpInstances(trx, new Map(r), lane, commit.commitTime, undefined, undefined, held.stream);
        await this.held.holdForSpool(held.spool)?.execute(trx);
      },
      (ids, why, code) => this.instances.parkMany(trx, ids, why, code),
    );
  }

  /** Writes a plan in a transaction, the checkpoint (and horizon) last. */
  async writePlan(
    trx: Kysely<StateDb>,
    plan: Plan,
    lane: number,
    commit: BatchCommit,
    holdAll: HoldAll = 'none',
  ): Promise<ApplySummary> {
    for (const doc of [...plan.docs, ...plan.newDocs]) await this.writeImageDoc(trx, doc);
    const refs = await this.dirty.follow(trx, plan);
    const hold = this.holdOf(plan, refs, commit, holdAll);
    if (lane !== LANE_LIVE) {
      await this.bumpInstances(trx, refs, lane, commit.commitTime, plan.priorities, undefined, hold.stream);
    } else {
      const split = await this.bulk.split(trx, refs, plan.parts, plan.transactions, (ids) =>
        this.instances.waitingLive(trx, ids),
      );
      // Before the bumps: an instance a later small transaction of this batch dirties comes back live.
      if (split.demote.length > 0) await this.instances.demote(trx, split.demote, LANE_BULK);
      await this.bumpInstances(trx, refs, lane, commit.commitTime, plan.priorities, split.lanes, hold.stream);
    }
    await this.held.holdForSpool(hold.spool)?.execute(trx);
    await this.statements.checkpoint(commit, plan.imageLsn)?.execute(trx);
    return { applied: plan.staging.applied, skipped: plan.staging.skipped, instancesDirtied: refs.size };
  }

  /**
   * What a batch holds (held-instances.ts): the instances its open last transaction touched (every
   * instance of the batch when that transaction follows lookups: finding its own would read them
   * again, and the others wait one batch at most), or, by `all`, every instance of the batch (a
   * change of the open transaction applied by itself; spooled changes).
   */
  private holdOf(
    plan: Plan,
    refs: ReadonlyMap<string, InstanceRef>,
    commit: BatchCommit,
    all: HoldAll,
  ): BatchHold {
    if (all !== 'none') return this.heldBy(all, refs, commit.openCommitLsn);
    const tx = plan.transactions;
    if (!tx.open) return { spool: [] };
    // The open transaction's own rows: the batch's last part (none: the batch is that transaction).
    const open = plan.parts.at(-1);
    const ids = open === undefined || open.queries.length > 0 ? refs : open.refs;
    return this.heldBy('stream', ids, commit.openCommitLsn);
  }

  private heldBy(
    hold: HoldAll,
    refs: ReadonlyMap<string, InstanceRef>,
    openCommitLsn: Lsn | undefined,
  ): BatchHold {
    if (hold === 'spool') return { spool: [...refs.keys()] };
    // Held while the checkpoint is at or before the commit record: the batch with the commit moves
    // it to the commit's end, past it. Unknown (a batch made by hand): not held, as before holds.
    if (hold === 'none' || openCommitLsn === undefined || refs.size === 0) return { spool: [] };
    return { stream: { lsn: openCommitLsn + 1n, ids: new Set(refs.keys()) }, spool: [] };
  }

  /** The serial path (truncates, snapshot rows): reads and writes in the one transaction. */
  async applyChanges(
    trx: Kysely<StateDb>,
    changes: readonly RowChange[],
    lane: number,
    commit: BatchCommit,
    holdAll: HoldAll = 'none',
  ): Promise<ApplySummary> {
    const pks = this.pksOf(changes);
    const keys = keysOf(changes, pks);
    const staging = newStaging(await this.images.read(trx, changes, pks, keys, null, null));
    let truncatedLsn: Lsn | null = null;
    const tx = new TransactionMarks(changes.length, commit.txStarts);
    for (const [i, change] of changes.entries()) {
      tx.at(i, staging.touched.length);
      if (change.kind !== 'truncate') {
        stageChange(staging, this.shape, change, pks[i] ?? null, keys[i] ?? null);
        continue;
      }
      // Rows changed earlier in this batch are only in memory yet: store them first, so the
      // truncate sees them, and forget their in-memory images as live.
      for (const doc of imageDocs(staging.written.values())) await this.writeImageDoc(trx, doc);
      staging.written.clear();
      const prefix = `${change.table}\u0000`;
      for (const [k, img] of staging.images) {
        if (k.startsWith(prefix) && !img.deleted && img.lsn < change.lsn)
          staging.images.set(k, { ...img, deleted: true, lsn: change.lsn });
      }
      for (const row of await this.truncateTable(trx, change.table, change.lsn))
        touch(staging, change.table, row);
      truncatedLsn = change.lsn;
      staging.applied++;
    }
    const plan = planOf(staging, lane, tx.done(commit.txOpen === true), this.dirty, this.mappings);
    const imageLsn =
      truncatedLsn !== null && (plan.imageLsn === null || truncatedLsn > plan.imageLsn)
        ? truncatedLsn
        : plan.imageLsn;
    return this.writePlan(trx, { ...plan, imageLsn }, lane, commit, holdAll);
  }

  pksOf(changes: readonly RowChange[]): (string | null)[] {
    return changes.map((c) => (c.kind === 'truncate' ? null : this.shape.pkOf(c.table, c.values)));
  }

  private async writeImageDoc(trx: Kysely<StateDb>, doc: string): Promise<void> {
    await this.statements.upsertImages(doc).execute(trx);
  }

  /**
   * A staged batch with no lookups to follow is one statement: images, versions and checkpoint as
   * data-modifying CTEs, committed together. One round trip instead of six, which matters because
   * each one waits for this process to get to it between staging the next batch.
   */
  async commitAtOnce(plan: Plan, batch: ChangeBatch, lane: number): Promise<ApplySummary> {
    // No lookups and no transaction spread over batches: the split reads nothing from the database.
    const lanes =
      lane === LANE_LIVE
        ? (await this.bulk.split(this.db, plan.refs, plan.parts, plan.transactions, async () => new Set()))
            .lanes
        : new Map<string, number>();
    const hold = this.holdOf(plan, plan.refs, batch, 'none');
    try {
      await this.commitStatement(plan, batch, lane, lanes, hold, false);
    } catch (error) {
      // A key inserted again after its row was deleted has a stored tombstone: the statement changed
      // nothing, run it again with upserts only.
      if ((error as { code?: string }).code !== '23505' || plan.newDocs.length === 0) throw error;
      await this.commitStatement(plan, batch, lane, lanes, hold, true);
    }
    return { applied: plan.staging.applied, skipped: plan.staging.skipped, instancesDirtied: plan.refs.size };
  }

  private async commitStatement(
    plan: Plan,
    batch: ChangeBatch,
    lane: number,
    lanes: ReadonlyMap<string, number>,
    hold: BatchHold,
    upsertOnly: boolean,
  ): Promise<void> {
    const docs = upsertOnly ? [...plan.docs, ...plan.newDocs] : plan.docs;
    const parts: RawBuilder<unknown>[] = docs.map(
      (doc, i) => sql`${sql.raw(`img${i}`)} as (${this.statements.upsertImages(doc)} returning 1)`,
    );
    if (!upsertOnly) {
      plan.newDocs.forEach((doc, i) =>
        parts.push(sql`${sql.raw(`new${i}`)} as (${this.statements.insertImages(doc)} returning 1)`),
      );
    }
    // Disjoint from the bump's rows: two parts of one statement must not update the same row.
    const bump = this.bumpStatement(plan.refs, lane, batch.commitTime, plan.priorities, lanes, hold.stream);
    if (bump) parts.push(sql`bump as (${bump} returning 1)`);
    const checkpoint = this.statements.checkpoint(batch, plan.imageLsn);
    if (checkpoint) parts.push(sql`checkpoint as (${checkpoint} returning 1)`);
    if (parts.length > 0) await sql`with ${sql.join(parts)} select 1`.execute(this.db);
  }

  private async truncateTable(trx: Kysely<StateDb>, table: string, lsn: Lsn): Promise<RowImage[]> {
    const { rows } = await sql<{ data: Record<string, string | null> }>`
      update ${this.t('row_image')} set deleted = true, lsn = ${lsn.toString()}::bigint
      where tbl = ${table} and not deleted and lsn < ${lsn.toString()}::bigint returning data`.execute(trx);
    return rows.map((r) => r.data);
  }

  private async bumpInstances(
    trx: Kysely<StateDb>,
    refs: Map<string, InstanceRef>,
    lane: number,
    commitTime: Date | null,
    priorities: ReadonlyMap<string, Priority> = new Map(),
    lanes?: ReadonlyMap<string, number>,
    hold?: StreamHold,
  ): Promise<void> {
    const list = [...refs.entries()];
    for (let i = 0; i < list.length; i += 5000) {
      await this.bumpStatement(
        new Map(list.slice(i, i + 5000)),
        lane,
        commitTime,
        priorities,
        lanes,
        hold,
      )?.execute(trx);
    }
  }

  private bumpStatement(
    refs: Map<string, InstanceRef>,
    lane: number,
    commitTime: Date | null,
    priorities: ReadonlyMap<string, Priority>,
    lanes?: ReadonlyMap<string, number>,
    hold?: StreamHold,
  ): RawBuilder<unknown> | null {
    return this.instances.bump(
      refs,
      lane,
      commitTime,
      priorities,
      (ref) => this.mappings.externalId(ref),
      lanes,
      false,
      hold,
    );
  }
}
