// What a batch of row changes writes once staged: its image documents, the instances it dirties
// directly and the lookups to follow, their backfill order, and where its source transactions begin.
// Pure: no clock, no I/O. Invariant: a Plan's documents hold every image the staging wrote that has to
// be stored, each once (planOf says which need not be).
import type { MappingSet } from '../mapping/contract.js';
import type { Lsn } from '../core/lsn.js';
import { imageKey, type StagedImage, type Staging } from './image-staging.js';
import type { RowChange } from './row-change.js';
import { imageDocs } from './replica-statements.js';
import type { Priority } from './instance-table.js';
import type { DirtySet, DirtySetFinder } from './dirty-set.js';
import type { BatchTransactions } from './bulk-lanes.js';
import { instanceIdOf, LANE_BACKFILL, OPEN_PRIORITY } from './instance-vocabulary.js';

export interface Plan extends DirtySet {
  readonly staging: Staging;
  readonly docs: string[];
  /**
   * Images of inserts beyond the horizon (their keys were not read): written with a plain INSERT,
   * cheaper than the upsert's conflict check (ingest bench, three interleaved pairs, median ratio
   * 0.459/0.470/0.494 against 0.428/0.461/0.411 with upserts); if a key was stored after all (reused
   * after a delete), the statement is run again with upserts.
   */
  readonly newDocs: string[];
  /** The highest LSN of the images this plan writes (null: none). */
  readonly imageLsn: Lsn | null;
  readonly priorities: Map<string, Priority>;
  /** The source transactions of the batch, over `staging.touched` (see bulk-lanes.ts). */
  readonly transactions: BatchTransactions;
  /** What each of those transactions dirties directly (none when there is one: the whole). */
  readonly parts: readonly DirtySet[];
}

/**
 * What a staged batch writes: its image documents, its instances and the lookups to follow
 * (`unread`: keys of inserts beyond the image horizon, whose images were not read).
 */
export function planOf(
  staging: Staging,
  lane: number,
  transactions: BatchTransactions,
  dirty: DirtySetFinder,
  mappings: MappingSet,
  unread?: ReadonlySet<string>,
): Plan {
  let imageLsn: Lsn | null = null;
  const known: StagedImage[] = [];
  const fresh: StagedImage[] = [];
  for (const [k, w] of staging.written) {
    if (imageLsn === null || w.image.lsn > imageLsn) imageLsn = w.image.lsn;
    if (!unread?.has(k)) known.push(w);
    // Inserted and deleted within this batch, never stored: nothing to store. A tombstone would
    // only guard against a replay of the insert, and a replay (a suffix of the stream) that holds
    // the insert holds the delete too. Its instances are bumped all the same (touched).
    else if (!w.image.deleted) fresh.push(w);
  }
  const { whole, parts } = dirty.directParts(staging.touched, transactions.starts);
  return {
    staging,
    docs: imageDocs(known),
    newDocs: imageDocs(fresh),
    imageLsn,
    ...whole,
    priorities: prioritiesOf(staging, lane, mappings),
    transactions,
    parts,
  };
}

/** Backfill order of the instances a backfill batch writes (see OPEN_PRIORITY). */
function prioritiesOf(staging: Staging, lane: number, mappings: MappingSet): Map<string, Priority> {
  const priorities = new Map<string, Priority>();
  if (lane !== LANE_BACKFILL || !mappings.instanceRank) return priorities;
  for (const { table, image } of staging.written.values()) {
    const rank = image.deleted ? null : mappings.instanceRank(table, image.data);
    if (rank)
      priorities.set(instanceIdOf(rank.ref), {
        priority: (rank.open ? OPEN_PRIORITY : 0n) + BigInt(rank.startMs),
        updateMs: rank.updateMs,
      });
  }
  return priorities;
}

/** The imageKey of each change's row (null: a truncate, or a key column missing). */
export function keysOf(changes: readonly RowChange[], pks: readonly (string | null)[]): (string | null)[] {
  return changes.map((c, i) => {
    const pk = pks[i];
    return c.kind === 'truncate' || pk === null || pk === undefined ? null : imageKey(c.table, pk);
  });
}

/** Where each source transaction of a batch begins in its staged `touched` rows (BatchTransactions). */
export class TransactionMarks {
  private readonly starts: number[] = [];
  private next = 0;
  private readonly continues: boolean;

  /** `txStarts`: ChangeBatch.txStarts (absent: the batch is one transaction). */
  constructor(
    count: number,
    private readonly txStarts: readonly number[] | undefined,
  ) {
    this.continues = txStarts !== undefined && count > 0 && txStarts[0] !== 0;
    if (this.continues || txStarts === undefined) this.starts.push(0);
  }

  /** Change `i` is about to be staged, `touched` rows so far (a transaction may touch none). */
  at(i: number, touched: number): void {
    if (this.txStarts === undefined || this.txStarts[this.next] !== i) return;
    this.next++;
    this.starts.push(touched);
  }

  done(open: boolean): BatchTransactions {
    return { starts: this.starts, continues: this.continues, open };
  }
}
