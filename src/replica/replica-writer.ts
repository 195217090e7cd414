// The only writer of row images and the checkpoint, and of instance versions from source changes:
// it stages each batch and decides when and in what order batches are written, spooled or applied
// change by change; batch-writes.ts holds the statements of one write (instance-table.ts the
// instance rows). Invariants:
// - one state transaction per batch: images, versions and the checkpoint commit together, so the
//   checkpoint never covers a change that is not in the replica (DESIGN invariant 1);
// - an image is only replaced by one from a later LSN, so a replayed transaction changes nothing
//   and dirties no instance (invariant 4);
// - every instance a changed row belonged to before or after the change, directly or through
//   lookups of any depth, gets its version bumped (invariant 3 starts here; dirty-set.ts finds them);
// - a change the state database refuses for its values (change-parking.ts) is parked, not retried:
//   the batch is applied change by change, the refused one recorded and its instances parked;
// - batches commit in the order they are handed over, and none commits after one that failed until
//   resume() is called (the stream does so when it starts replaying from the slot's position).
//   Batch N+1 is staged (its images read, merged, serialised) while batch N is being written: the
//   images N stages are kept in memory until N commits (image-reads.ts), so N+1 reads what N wrote
//   without waiting;
// - the checkpoint row's image_lsn is at or above the LSN of every image written. An insert from
//   beyond it (read at a session's first batch, once streaming) has no image to read: a replayed
//   change is always at or below it, and a key cannot have an image from a later change than its
//   insert (a copy resumed under fresh snapshots raises the horizon past them). Such inserts skip
//   the image read, the cost that dominated insert-heavy catch-up, and one whose row is deleted
//   again within the batch is not written at all (batch-plan.ts, planOf, says why);
// - an instance a batch's unfinished last transaction touched is held (not pushed) until the
//   checkpoint passes that transaction's commit, and one a spooled batch changed until the spool is
//   found empty (held-instances.ts): the sync stage never pushes half a source transaction;
// - a batch wholly inside a source transaction already known to be bulk is spooled (bulk-spool.ts),
//   not applied: the transactions after it reach the replica first, and the spool is applied later,
//   between the stream's batches, in the bulk lane. Stage order decides (spool-policy.ts), so the batch that
//   ends the transaction and every batch after it are applied as before.
import type { Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import type { MappingSet, RowImage } from '../mapping/contract.js';
import type { Lsn } from '../core/lsn.js';
import { CdcError } from '../errors.js';
import { newStaging, stageChange, type TableShape } from './image-staging.js';
import type { ChangeBatch, ChangeValues, RowChange } from './row-change.js';
import { jsonKey } from './json-key.js';
import { NO_COMMIT } from './replica-statements.js';
import { DirtySetFinder } from './dirty-set.js';
import { rowErrorState } from './change-parking.js';
import { BulkLanes } from './bulk-lanes.js';
import { instanceIdOf, LANE_BACKFILL, LANE_BULK, LANE_LIVE } from './instance-vocabulary.js';
import { BulkSpool, type SpooledBatch } from './bulk-spool.js';
import { keysOf, planOf, TransactionMarks, type Plan } from './batch-plan.js';
import { ImageReads } from './image-reads.js';
import { SpoolDrain } from './spool-drain.js';
import { SpoolPolicy } from './spool-policy.js';
import { BatchWrites, type ApplySummary } from './batch-writes.js';

export type { ApplySummary } from './batch-writes.js';

/** A batch the stage step decided to spool instead of applying. */
const SPOOL = 'spool' as const;

const settle = (p: Promise<unknown>): Promise<void> =>
  p.then(
    () => undefined,
    () => undefined,
  );

export class ReplicaWriter implements TableShape {
  private readonly keepCols = new Map<string, Set<string>>();
  /** Set when a batch fails: every batch fails until resume(). */
  private failed = false;
  /** Bumped by resume(): batches and in-flight images of an older generation are void. */
  private generation = 0;
  private seq = 0;
  private stageTail: Promise<unknown> = Promise.resolve();
  private writeTail: Promise<unknown> = Promise.resolve();
  private readonly images: ImageReads;
  private readonly dirty: DirtySetFinder;
  private readonly bulk: BulkLanes;
  private readonly writes: BatchWrites;
  private readonly spool: BulkSpool;
  private readonly policy: SpoolPolicy;
  private readonly drain: SpoolDrain<ApplySummary>;
  private lastHandedAt = 0;
  private spoolListener: ((summary: ApplySummary) => void) | null = null;

  /** `bulkThreshold`: a streamed transaction dirtying more instances goes to the bulk lane (0: never). */
  constructor(
    private readonly db: Kysely<StateDb>,
    schema: string,
    private readonly mappings: MappingSet,
    private readonly tableKeys: ReadonlyMap<string, readonly string[]>,
    slot: string,
    bulkThreshold = 0,
    /** Apply the spool by itself between the stream's batches (tests drain it with drainSpool()). */
    private readonly autoDrain = true,
  ) {
    for (const [table, use] of mappings.tables) {
      this.keepCols.set(table, new Set([...use.columns, ...(tableKeys.get(table) ?? [])]));
    }
    this.images = new ImageReads(db, schema, slot, (table, values) => this.pkOf(table, values));
    this.dirty = new DirtySetFinder(mappings, schema);
    this.bulk = new BulkLanes(bulkThreshold, this.dirty);
    const { images, dirty, bulk } = this;
    this.writes = new BatchWrites({ db, schema, slot, mappings, shape: this, images, dirty, bulk });
    this.spool = new BulkSpool(schema, slot);
    this.policy = new SpoolPolicy(bulkThreshold, mappings, this);
    this.drain = new SpoolDrain({
      step: () => this.applySpooled(),
      readingBulk: () => this.policy.readingBulk,
      lastHandedAt: () => this.lastHandedAt,
      onApplied: (summary) => this.spoolListener?.(summary),
    });
  }

  /** Called with what each spooled batch applied (instances to push). */
  onSpoolApplied(listener: (summary: ApplySummary) => void): void {
    this.spoolListener = listener;
  }

  keep(table: string): ReadonlySet<string> | undefined {
    return this.keepCols.get(table);
  }

  pkOf(table: string, values: ChangeValues): string | null {
    const cols = this.tableKeys.get(table);
    if (!cols || cols.length === 0) return null;
    // Per change: the array is made at its final size (see instanceIdOf).
    const key = new Array<string | null>(cols.length);
    for (let i = 0; i < cols.length; i++) {
      const v = values[cols[i] as string];
      if (v === undefined) return null;
      key[i] = v;
    }
    return jsonKey(key);
  }

  /**
   * Applies a batch of source changes and moves the checkpoint, in one state transaction. May be
   * called again before the returned promise settles: batches commit in call order, and once one
   * fails, every batch fails until resume() (the stream replays them all).
   */
  applyBatch(batch: ChangeBatch, lane = LANE_LIVE): Promise<ApplySummary> {
    const generation = this.generation;
    const seq = ++this.seq;
    const serial = batch.changes.some((c) => c.kind === 'truncate');
    const previousStage = this.stageTail;
    const previousWrite = this.writeTail;
    if (lane === LANE_LIVE) this.lastHandedAt = Date.now();
    const plan = serial
      ? settle(previousStage).then(() => {
          this.policy.serial();
          return null;
        })
      : settle(previousStage).then(async () => {
          if (lane === LANE_LIVE && this.policy.spools(batch)) return SPOOL;
          // A change relying on an image a spooled change may have updated: the spool goes first.
          if (this.policy.needsSpoolFirst(batch)) {
            await settle(previousWrite);
            await this.applyWholeSpool();
          } else if (this.policy.mayHold) {
            // Per-instance commit order: the data fix's changes of these instances go first.
            const ids = this.policy.spooledInstancesOf(batch);
            if (ids.size > 0) {
              await settle(previousWrite);
              await this.applySpoolOf(ids);
            }
          }
          return this.stage(batch, lane, generation, seq);
        });
    const write = (async () => {
      try {
        const staged = await plan;
        await settle(previousWrite);
        if (this.failed || generation !== this.generation)
          throw new CdcError(
            'STATE_DB',
            'an earlier batch failed to apply; this one is applied again after the restart',
          );
        if (staged === SPOOL) {
          // The transaction's first batch (not one continuing it): no split saw it, tell the lanes.
          if (batch.txStarts?.length !== 0) this.bulk.markBulk();
          return await this.spoolBatch(batch.changes);
        }
        // A truncate would be undone by spooled changes of its table applied after it.
        if (!staged) await this.applyWholeSpool();
        let summary: ApplySummary;
        try {
          summary =
            staged &&
            staged.queries.length === 0 &&
            !(lane === LANE_LIVE && this.bulk.readsDatabase(staged.transactions))
              ? await this.writes.commitAtOnce(staged, batch, lane)
              : await this.db
                  .transaction()
                  .execute((trx) =>
                    staged
                      ? this.writes.writePlan(trx, staged, lane, batch)
                      : this.writes.applyChanges(trx, batch.changes, lane, batch),
                  );
        } catch (error) {
          // A change the state database refuses for its values would fail every replay: the batch
          // is applied change by change and the ones refused are parked (change-parking.ts).
          if (rowErrorState(error) === null) throw error;
          summary = await this.writes.applyIsolated(batch, lane);
        }
        if (staged) this.images.forget(staged.staging.written, seq);
        return summary;
      } catch (error) {
        this.failed = true;
        this.images.clear();
        throw error;
      }
    })();
    // A truncate batch reads and writes in its own transaction: the next batch is staged after it.
    this.stageTail = serial ? write : plan;
    this.writeTail = write;
    return write;
  }

  /** After a failure: the stream has ended every session that handed batches over and replays from the slot. */
  resume(): void {
    this.bulk.reset();
    this.policy.reset();
    this.failed = false;
    this.generation++;
    this.images.clear();
    if (this.policy.mayHold && this.autoDrain) this.drain.kick();
  }

  /** Applies every spooled batch now (the automatic drain does it between the stream's batches). */
  async drainSpool(): Promise<number> {
    let n = 0;
    while ((await this.applySpooled()) !== null) n++;
    return n;
  }

  /** Stops applying the spool by itself (the rest waits in the spool for the next start). */
  async stopSpool(): Promise<void> {
    await this.drain.stop();
  }

  private async spoolBatch(changes: readonly RowChange[]): Promise<ApplySummary> {
    // Noted first: should the write fail, the stream replays the batch, and an instance noted for
    // nothing only costs a look into the spool.
    const instances = this.policy.noteSpooled(changes);
    await this.spool.put(this.db, changes, instances);
    if (this.autoDrain) this.drain.kick();
    return { applied: 0, skipped: 0, instancesDirtied: 0, spooled: changes.length };
  }

  /** Applies the oldest spooled batch after every batch handed over before (null: the spool is empty). */
  private applySpooled(): Promise<ApplySummary | null> {
    const previous = Promise.all([settle(this.stageTail), settle(this.writeTail)]);
    const write = previous.then(async () => {
      const next = await this.spool.oldest(this.db);
      if (!next) {
        await this.spoolEmptied();
        return null;
      }
      return this.applySpooledBatch(next);
    });
    this.stageTail = write;
    this.writeTail = write;
    return write;
  }

  private async applyWholeSpool(): Promise<void> {
    if (!this.policy.mayHold) return;
    for (let next = await this.spool.oldest(this.db); next; next = await this.spool.oldest(this.db)) {
      // Applied first: `listener?.(arg)` would skip evaluating arg when there is no listener.
      const summary = await this.applySpooledBatch(next);
      this.spoolListener?.(summary);
    }
    await this.spoolEmptied();
  }

  /**
   * Every spooled transaction is in the replica whole: the instances its batches changed may be
   * pushed. Also run at the first look at the spool after a start, for holds a stop left behind.
   */
  private async spoolEmptied(): Promise<void> {
    await this.writes.releaseSpool();
    this.policy.noteEmpty();
  }

  /**
   * The spooled changes of these instances, in the bulk lane, left in the spool: applied again with
   * the rest, they are skipped (an image is only replaced by a later one). A change the state
   * database refuses makes the whole spool go first instead (its batches park what they must).
   */
  private async applySpoolOf(ids: ReadonlySet<string>): Promise<void> {
    const changes: RowChange[] = [];
    for await (const spooled of this.spool.batches(this.db, ids)) {
      for (const c of spooled.changes) {
        if (c.kind === 'truncate') continue;
        const refs = this.mappings.instancesOfRow(c.table, c.values as RowImage);
        if (refs.some((ref) => ids.has(instanceIdOf(ref)))) changes.push(c);
      }
    }
    if (changes.length > 0) {
      try {
        const summary = await this.db
          .transaction()
          // Not held for the spool: every spooled change of these instances is applied here.
          .execute((trx) => this.writes.applyChanges(trx, changes, LANE_BULK, NO_COMMIT));
        this.spoolListener?.(summary);
      } catch (error) {
        if (rowErrorState(error) === null) throw error;
        await this.applyWholeSpool();
        return;
      }
    }
    this.policy.noteInstancesApplied(ids);
  }

  /** One spooled batch, in the bulk lane, removed from the spool in the same transaction. */
  private async applySpooledBatch(next: SpooledBatch): Promise<ApplySummary> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const summary = await this.writes.applyChanges(trx, next.changes, LANE_BULK, NO_COMMIT, 'spool');
        await this.spool.remove(trx, next.id);
        return summary;
      });
    } catch (error) {
      if (rowErrorState(error) === null) throw error;
      return this.writes.applyIsolated(
        { changes: next.changes, endLsn: null, commitTime: null },
        LANE_BULK,
        (trx) => this.spool.remove(trx, next.id),
        true,
      );
    }
  }

  /**
   * Rows copied under the slot's snapshot, `snapshotLsn` being the WAL position read before the slot
   * was created: they carry snapshotLsn - 1, so they replace images from an earlier slot's stream
   * and lose to every change the new slot streams (some of which precede its consistent point).
   */
  async applySnapshotRows(
    table: string,
    rows: readonly Record<string, string | null>[],
    snapshotLsn: Lsn,
  ): Promise<number> {
    const changes: RowChange[] = rows.map((values) => ({
      kind: 'upsert',
      table,
      lsn: snapshotLsn - 1n,
      values,
    }));
    const summary = await this.db
      .transaction()
      .execute((trx) => this.writes.applyChanges(trx, changes, LANE_BACKFILL, NO_COMMIT));
    return summary.applied;
  }

  /** After a re-snapshot: rows the copy did not refresh no longer exist at the snapshot. */
  sweepStale(table: string, snapshotLsn: Lsn): Promise<number> {
    return this.writes.sweepStale(table, snapshotLsn);
  }

  /** Reads, merges and serialises a batch's images outside any transaction (see the header). */
  private async stage(
    batch: ChangeBatch,
    lane: number,
    generation: number,
    seq: number,
  ): Promise<Plan | typeof SPOOL> {
    const { changes, txStarts } = batch;
    const txOpen = batch.txOpen === true;
    const horizon = await this.images.horizonOf(generation);
    const pks = this.writes.pksOf(changes);
    const keys = keysOf(changes, pks);
    const unread = new Set<string>();
    const staging = newStaging(
      await this.images.read(this.db, changes, pks, keys, generation, horizon, unread),
    );
    const tx = new TransactionMarks(changes.length, txStarts);
    changes.forEach((change, i) => {
      tx.at(i, staging.touched.length);
      if (change.kind !== 'truncate') stageChange(staging, this, change, pks[i] ?? null, keys[i] ?? null);
    });
    const plan = planOf(staging, lane, tx.done(txOpen), this.dirty, this.mappings, unread);
    // The first batch of a bulk transaction the values did not tell: spooled like the ones after it.
    if (lane === LANE_LIVE && this.policy.staged(batch, plan)) return SPOOL;
    if (!this.failed && generation === this.generation) {
      this.images.keep(staging.written, seq, generation);
    }
    return plan;
  }
}
