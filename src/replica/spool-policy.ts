// Decides, in stage order, which streamed batches the replica writer spools (bulk-spool.ts) and
// when the whole spool must be applied first. Invariants:
// - only batches of a source transaction known to name more instances than the bulk threshold, and
//   of that transaction alone, are spooled: the batch ending it, and every other, is applied;
// - a change taking an unchanged TOAST value from the stored image is never staged while a spooled
//   change of its row may be unapplied (the keys spooled are remembered, up to SPOOL_MEMORY_MAX; past
//   that, or for a spool left by another process, every such change waits for the whole spool);
// - a change to an instance a spooled change names is never staged before that instance's spooled
//   changes are applied (per-instance commit order: Feishu never shows an instance with a change and
//   without the data fix committed before it). The instances are remembered like the keys; a spooled change whose
//   instances cannot be told from its values (a child row's delete holds only its key, a lookup
//   row reaches instances through lookups) makes every later change wait, and so does a change of
//   a lookup row, or a delete whose instance its key does not tell.
import type { InstanceRef, MappingSet, RowImage } from '../mapping/contract.js';
import type { ChangeBatch, RowChange } from './row-change.js';
import { imageKey, type TableShape } from './image-staging.js';
import { instanceIdOf } from './instance-vocabulary.js';
import type { BatchTransactions } from './bulk-lanes.js';

/**
 * Keys, and instances, remembered as spooled before every one counts as possibly spooled. Each entry
 * is a string of a few dozen bytes in a Set: 50,000 keep both sets near 10 MB. With 200,000 of each,
 * the memory bench's 200,000-row transaction took the connector from 176 MB (no bulk lane) to 219 MB
 * (target 200).
 */
const SPOOL_MEMORY_MAX = 50_000;

/** What a staged batch tells about the transaction it leaves open. */
export interface StagedTransactions {
  transactions: BatchTransactions;
  /** Instances the whole batch's rows name directly. */
  refs: ReadonlyMap<string, InstanceRef>;
  /** Those each transaction's rows name directly, one per start when there are two or more. */
  parts: readonly { refs: ReadonlyMap<string, InstanceRef> }[];
}

export class SpoolPolicy {
  /** The source transaction left open by the last staged batch is known to be bulk. */
  private bulkOpen = false;
  /** Keys of spooled changes not known applied; 'unknown' (a spool from before), null: none. */
  private keys: Set<string> | 'unknown' | null = 'unknown';
  /** Instances spooled changes name directly, as `keys`; 'unknown' also when a change's cannot be told. */
  private instances: Set<string> | 'unknown' | null = 'unknown';

  /** `threshold` 0: no bulk lane, nothing spooled. */
  constructor(
    private readonly threshold: number,
    private readonly mappings: MappingSet,
    private readonly shape: TableShape,
  ) {}

  /** The stream is reading a transaction known to be bulk. */
  get readingBulk(): boolean {
    return this.bulkOpen;
  }

  /** The spool may hold changes. */
  get mayHold(): boolean {
    return this.keys !== null;
  }

  /** A new session replays from the slot: no transaction is open. */
  reset(): void {
    this.bulkOpen = false;
  }

  /**
   * Before staging a live batch: spool it when it is wholly inside a transaction known to be bulk,
   * or begins one (nothing else in it) whose rows name more instances than the threshold, counted
   * from the changes' own values before any image is read (a data fix rewriting rows to the values
   * they had is spooled too; applied later it dirties nothing, as it would have now).
   */
  spools(batch: ChangeBatch): boolean {
    if (this.threshold <= 0 || batch.endLsn !== null || batch.txOpen !== true) return false;
    if (batch.txStarts === undefined || batch.changes.length === 0) return false;
    if (batch.txStarts.length === 0) return this.bulkOpen;
    if (batch.txStarts.length !== 1 || batch.txStarts[0] !== 0) return false;
    if (batch.changes.length <= this.threshold) return false;
    const ids = new Set<string>();
    for (const c of batch.changes) {
      if (c.kind === 'truncate') return false;
      for (const ref of this.mappings.instancesOfRow(c.table, c.values as RowImage)) {
        ids.add(instanceIdOf(ref));
        if (ids.size > this.threshold) return (this.bulkOpen = true);
      }
    }
    return false;
  }

  /**
   * After staging a live batch: whether the transaction it leaves open is known to be bulk (the
   * lane split counts at least the instances its rows name); true also means the batch is nothing
   * but that transaction's beginning and is better spooled than written.
   */
  staged(batch: ChangeBatch, s: StagedTransactions): boolean {
    const { starts, continues, open } = s.transactions;
    if (!open || this.threshold <= 0) return (this.bulkOpen = false);
    if (starts.length === 1 && continues && this.bulkOpen) return false;
    // The open transaction's rows: the last part, or the whole batch when it is that transaction.
    this.bulkOpen = (s.parts.at(-1) ?? s).refs.size > this.threshold;
    return this.bulkOpen && batch.endLsn === null && starts.length === 1 && !continues;
  }

  /** A serial batch (a truncate) was planned: the next batch proves a bulk transaction afresh. */
  serial(): void {
    this.bulkOpen = false;
  }

  /**
   * Whether the whole spool must be applied before this batch: a spooled change of a row it keeps an
   * unchanged TOAST value of may be unapplied, or it changes a row whose instances cannot be told
   * apart from the spool's (see reachesUnknown).
   */
  needsSpoolFirst(batch: ChangeBatch): boolean {
    const keys = this.keys;
    if (keys === null) return false;
    for (const c of batch.changes) {
      if (c.kind === 'truncate') continue;
      if (this.reachesUnknown(c.table, c.values as RowImage, c.kind === 'delete')) return true;
      if (c.kind !== 'upsert' || !Object.values(c.values).includes(undefined)) continue;
      if (keys === 'unknown') return true;
      const pk = this.shape.pkOf(c.table, c.values);
      if (pk !== null && keys.has(imageKey(c.table, pk))) return true;
    }
    return false;
  }

  /**
   * The instances of this batch that spooled changes name: their spooled changes are applied before
   * it (per-instance commit order), the rest of the spool later.
   */
  spooledInstancesOf(batch: ChangeBatch): Set<string> {
    const found = new Set<string>();
    const instances = this.instances;
    if (instances === null || instances === 'unknown') return found;
    for (const c of batch.changes) {
      if (c.kind === 'truncate') continue;
      for (const ref of this.mappings.instancesOfRow(c.table, c.values as RowImage)) {
        const id = instanceIdOf(ref);
        if (instances.has(id)) found.add(id);
      }
    }
    return found;
  }

  /** Every spooled change of these instances was applied. */
  noteInstancesApplied(ids: ReadonlySet<string>): void {
    const instances = this.instances;
    if (instances === null || instances === 'unknown') return;
    for (const id of ids) instances.delete(id);
  }

  /**
   * Whether a change of this row may reach an instance of the spool that cannot be named: the spool
   * holds such changes, or the row is a lookup row (it reaches instances through lookups) or a
   * child row's delete (its key names no instance).
   */
  private reachesUnknown(table: string, row: RowImage, deleted: boolean): boolean {
    const instances = this.instances;
    if (instances === null) return false;
    if (instances === 'unknown') return true;
    if (this.mappings.dependentsOfRow(table, row).length > 0) return true;
    return (
      deleted && this.mappings.tables.has(table) && this.mappings.instancesOfRow(table, row).length === 0
    );
  }

  /** Notes a batch set aside; returns the instances its changes belong to (null: not known). */
  noteSpooled(changes: readonly RowChange[]): Set<string> | null {
    const instances = this.noteInstances(changes);
    if (this.keys === null) this.keys = new Set();
    if (this.keys === 'unknown') return instances;
    for (const c of changes) {
      const pk = c.kind === 'truncate' ? null : this.shape.pkOf(c.table, c.values);
      if (pk !== null) this.keys.add(imageKey(c.table, pk));
    }
    if (this.keys.size > SPOOL_MEMORY_MAX) this.keys = 'unknown';
    return instances;
  }

  /** The spool was found empty. */
  noteEmpty(): void {
    this.keys = null;
    this.instances = null;
  }

  /** Adds the batch's instances to those of the spool; returns them (null: not known). */
  private noteInstances(changes: readonly RowChange[]): Set<string> | null {
    if (this.instances === 'unknown') return null;
    const batch = new Set<string>();
    for (const c of changes) {
      if (c.kind === 'truncate') {
        this.instances = 'unknown';
        return null;
      }
      const row = c.values as RowImage;
      const refs = this.mappings.instancesOfRow(c.table, row);
      // A lookup row reaches instances through lookups; a child row's delete names only its key.
      if (
        this.mappings.dependentsOfRow(c.table, row).length > 0 ||
        (c.kind === 'delete' && refs.length === 0)
      ) {
        this.instances = 'unknown';
        return null;
      }
      for (const ref of refs) batch.add(instanceIdOf(ref));
    }
    const instances = this.instances ?? new Set<string>();
    for (const id of batch) instances.add(id);
    this.instances = instances.size > SPOOL_MEMORY_MAX ? 'unknown' : instances;
    return batch;
  }
}
