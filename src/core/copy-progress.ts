// How far the snapshot copy got, per table: written by the source's copy, stored by the replica's
// checkpoint so an interrupted copy resumes. Invariant: lastKey is the key of the last row of a
// page whose rows are all in the replica.

export interface TableProgress {
  done: boolean;
  lastKey: (string | null)[] | null;
  rows: number;
}

export type CopyProgress = Record<string, TableProgress>;
