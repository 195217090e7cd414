// Turns the decoded pgoutput messages of the stream into change batches: the changes of mapped
// tables, where each source transaction begins, the end of the last complete one, and whether the
// last one is still open. No I/O: the stream decides when a batch is taken and where it goes.
// Invariant: a batch's endLsn is the commit end of the last transaction whose changes are all in
// this batch or earlier ones, never one whose changes are still to come.
import type { Pgoutput } from 'pg-logical-replication';
import type { Logger } from '../core/logger.js';
import type { ChangeBatch, ChangeValues, RowChange } from '../replica/row-change.js';
import { parseLsn, type Lsn } from '../core/lsn.js';

export interface BatchBuilderOptions {
  tables: ReadonlySet<string>;
  /** Columns the mappings read, per table: a relation message without one of them is reported. */
  columns?: ReadonlyMap<string, readonly string[]>;
  truncate: 'ignore' | 'delete';
  logger: Logger;
}

export class BatchBuilder {
  private readonly tableNames = new WeakMap<Pgoutput.MessageRelation, string>();
  private readonly warned = new Set<string>();
  private pending: RowChange[] = [];
  /** Indexes in `pending` where a source transaction begins (ChangeBatch.txStarts). */
  private txStarts: number[] = [];
  private end: Lsn | null = null;
  private commitTime: Date | null = null;
  private decodedAt = 0;
  private inTx = false;
  /** The commit LSN of the transaction being read (its Begin message's). */
  private openCommitLsn: Lsn | null = null;

  constructor(private readonly o: BatchBuilderOptions) {}

  /** Changes waiting for the next batch. */
  get size(): number {
    return this.pending.length;
  }

  /** Something to hand over: changes, or a commit that moves the position. */
  get hasBatch(): boolean {
    return this.pending.length > 0 || this.end !== null;
  }

  /** Nothing received is unapplied here: no change waiting, no transaction begun or unconfirmed. */
  get idle(): boolean {
    return !this.inTx && this.pending.length === 0 && this.end === null;
  }

  /** A new session: whatever was collected is replayed from the slot. */
  reset(): void {
    this.pending = [];
    this.txStarts = [];
    this.end = null;
    this.commitTime = null;
    this.inTx = false;
  }

  begin(msg: Pgoutput.MessageBegin): void {
    this.inTx = true;
    this.openCommitLsn = msg.commitLsn ? parseLsn(msg.commitLsn) : null;
    // A transaction with no mapped change leaves no mark: the next one starts at the same index.
    if (this.txStarts.at(-1) !== this.pending.length) this.txStarts.push(this.pending.length);
  }

  commit(lsnText: string, msg: Pgoutput.MessageCommit): void {
    this.inTx = false;
    this.end = parseLsn(msg.commitEndLsn ?? lsnText);
    this.commitTime = new Date(Number(BigInt(msg.commitTime as unknown as bigint) / 1000n));
    this.decodedAt = Date.now();
  }

  /** Collects an insert, update, delete or truncate of a mapped table. */
  change(lsnText: string, msg: Pgoutput.Message): void {
    const lsn = parseLsn(lsnText);
    if (msg.tag === 'truncate') {
      for (const rel of msg.relations) {
        const table = `${rel.schema}.${rel.name}`;
        if (!this.o.tables.has(table)) continue;
        if (this.o.truncate === 'delete') this.pending.push({ kind: 'truncate', table, lsn });
        else this.o.logger.warn({ table }, 'TRUNCATE of a mapped table ignored (setting truncate=ignore)');
      }
      return;
    }
    if (msg.tag !== 'insert' && msg.tag !== 'update' && msg.tag !== 'delete') return;
    const table = this.tableOf(msg.relation);
    if (!this.o.tables.has(table)) return;
    if (msg.tag === 'delete') {
      this.pending.push({ kind: 'delete', table, lsn, values: (msg.old ?? msg.key ?? {}) as ChangeValues });
      return;
    }
    const oldKey =
      msg.tag === 'update' ? ((msg.key ?? msg.old ?? undefined) as ChangeValues | undefined) : undefined;
    const values = msg.new as ChangeValues;
    if (msg.tag === 'insert') this.pending.push({ kind: 'upsert', table, lsn, values, fresh: true });
    else
      this.pending.push(
        oldKey ? { kind: 'upsert', table, lsn, values, oldKey } : { kind: 'upsert', table, lsn, values },
      );
  }

  /**
   * The batch of everything collected. The checkpoint moves to the end of the last complete
   * transaction, whose changes are all in this batch or earlier ones, even when the batch also holds
   * part of the next transaction (replaying that part later is harmless: its images carry the same
   * LSNs and are skipped).
   */
  take(): ChangeBatch {
    const endLsn = this.end;
    const txStarts = this.txStarts.filter((i) => i < this.pending.length);
    const batch: ChangeBatch = {
      changes: this.pending,
      endLsn,
      commitTime: endLsn === null ? null : this.commitTime,
      txStarts,
      txOpen: this.inTx,
      ...(this.inTx && this.openCommitLsn !== null ? { openCommitLsn: this.openCommitLsn } : {}),
      ...(endLsn === null ? {} : { decodedAt: this.decodedAt }),
    };
    this.pending = [];
    // A transaction begun with no change yet starts the next batch.
    this.txStarts = this.txStarts.length > txStarts.length ? [0] : [];
    this.end = null;
    this.commitTime = null;
    return batch;
  }

  /** A mapped column that vanished (dropped or renamed) makes its values null: say so once. */
  relation(msg: Pgoutput.MessageRelation): void {
    const table = `${msg.schema}.${msg.name}`;
    const needed = this.o.columns?.get(table);
    if (!needed) return;
    const present = new Set(msg.columns.map((c) => c.name));
    const missing = needed.filter((c) => !present.has(c));
    const key = `${table}:${missing.join(',')}`;
    if (missing.length > 0 && !this.warned.has(key)) {
      this.warned.add(key);
      this.o.logger.warn(
        { table, missing },
        `mapped columns ${missing.join(', ')} of ${table} no longer exist (dropped or renamed): their values are null until the mapping is changed and \`approval-cdc resync\` runs`,
      );
    }
  }

  /** `schema.name` of a relation, made once per relation message rather than once per change. */
  private tableOf(relation: Pgoutput.MessageRelation): string {
    let name = this.tableNames.get(relation);
    if (name === undefined) {
      name = `${relation.schema}.${relation.name}`;
      this.tableNames.set(relation, name);
    }
    return name;
  }
}
