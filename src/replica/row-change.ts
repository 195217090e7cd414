// The unit the source hands to the replica: one decoded row change, with its exact text values.
// `undefined` for a column means "unchanged TOAST value, not sent": the replica keeps what it has.
import type { Lsn } from '../core/lsn.js';

export type ChangeValues = Readonly<Record<string, string | null | undefined>>;

export type RowChange =
  | {
      readonly kind: 'upsert';
      readonly table: string;
      readonly lsn: Lsn;
      readonly values: ChangeValues;
      readonly oldKey?: ChangeValues;
      /** A pgoutput INSERT: the row did not exist in the source just before this change. */
      readonly fresh?: true;
    }
  | { readonly kind: 'delete'; readonly table: string; readonly lsn: Lsn; readonly values: ChangeValues }
  | { readonly kind: 'truncate'; readonly table: string; readonly lsn: Lsn };

export interface ChangeBatch {
  readonly changes: readonly RowChange[];
  /** Commit-end LSN of the last complete source transaction in this batch; null mid-transaction. */
  readonly endLsn: Lsn | null;
  /** Commit time of that transaction. */
  readonly commitTime: Date | null;
  /**
   * Indexes of the changes that begin a source transaction, ascending. Changes before the first
   * continue the transaction the previous batch ended with. Absent: the batch is one transaction.
   */
  readonly txStarts?: readonly number[];
  /** The last transaction of the batch goes on in the next batch. */
  readonly txOpen?: boolean;
  /**
   * With txOpen: the LSN of that transaction's commit record (pgoutput's Begin carries it). The
   * checkpoint passes it only with the batch that applies the commit (held-instances.ts).
   */
  readonly openCommitLsn?: Lsn;
  /** When this process decoded that commit (Date.now()), for where-the-time-goes figures. */
  readonly decodedAt?: number;
}
