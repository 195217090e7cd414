// How far the snapshot copy got, per table (and per key range of a table copied in parts): written by
// the source's copy, stored by the replica's checkpoint so an interrupted copy resumes. Invariant:
// lastKey is the key of the last row of a page whose rows are all in the replica.

export interface TableProgress {
  done: boolean;
  lastKey: (string | null)[] | null;
  /** Rows copied so far (with ranges: of every range). */
  rows: number;
  /**
   * The table's key space in parts copied side by side (a single integer key, split when the copy
   * starts): range i holds the keys above range i-1's `upper` up to its own (null: no bound). Set,
   * the table is done once every range is.
   */
  ranges?: RangeProgress[];
  /** Estimated rows of the table (observe/copy-progress.ts reports against it). */
  total?: number;
  /** When the copy of this table started (ISO time). */
  startedAt?: string;
}

/** One part of a table's key space and how far its copy got (lastKey as in TableProgress). */
export interface RangeProgress {
  upper: string | null;
  lastKey: (string | null)[] | null;
  rows: number;
  done: boolean;
}

export type CopyProgress = Record<string, TableProgress>;
