// How far the snapshot copy got, per table: written by the source's copy, stored by the replica's
// checkpoint so an interrupted copy resumes. Invariant: lastKey is the key of the last row of a
// page whose rows are all in the replica.

export interface TableProgress {
  done: boolean;
  lastKey: (string | null)[] | null;
  rows: number;
  /** Estimated rows of the table (observe/copy-progress.ts reports against it). */
  total?: number;
  /** When the copy of this table started (ISO time). */
  startedAt?: string;
}

export type CopyProgress = Record<string, TableProgress>;
