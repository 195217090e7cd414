// Decides the lane of the instances a streamed batch dirties: a source transaction that dirties more
// instances than the bulk threshold (a data fix, a batch job rewriting every row) goes to the bulk
// lane, below live, so a user's own change committed after it is pushed first. Invariants:
// - an instance dirtied by a small transaction of the batch is live, whatever else dirtied it; one
//   already waiting in the live lane stays there (the bump keeps the lower lane);
// - a transaction spread over several batches is counted across them; when it crosses the threshold,
//   the instances its earlier batches put in the live lane (and only those) move to the bulk lane;
// - memory is bounded by the threshold: a transaction's ids are kept until it is known to be bulk.
import type { Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import type { InstanceRef } from '../mapping/contract.js';
import { CdcError } from '../errors.js';
import type { DirtySet, DirtySetFinder } from './dirty-set.js';
import { LANE_BULK, LANE_LIVE } from './instance-vocabulary.js';

/** The transactions of a batch, as the replica writer sees them after staging. */
export interface BatchTransactions {
  /** Index in the staged `touched` rows where each transaction of the batch begins. */
  readonly starts: readonly number[];
  /** The first transaction began in an earlier batch. */
  readonly continues: boolean;
  /** The last transaction goes on in the next batch. */
  readonly open: boolean;
}

/** The lane of each instance to bump (absent: live), and those an earlier batch put live to move down. */
export interface LaneSplit {
  readonly lanes: ReadonlyMap<string, number>;
  readonly demote: readonly string[];
}

interface OpenTransaction {
  /** Instances dirtied so far, until there are more than the threshold. */
  ids: Set<string>;
  bulk: boolean;
  /** Instances its earlier batches moved into the live lane (they did not wait there before). */
  entered: string[];
}

export class BulkLanes {
  private open: OpenTransaction | null = null;

  /** `threshold` 0: no bulk lane, every streamed change is live. */
  constructor(
    private readonly threshold: number,
    private readonly dirty: DirtySetFinder,
  ) {}

  /** The stream replays from the slot: no transaction is open. */
  reset(): void {
    this.open = null;
  }

  /**
   * The transaction the last batch left open is bulk, without a split: the replica writer spooled
   * that batch, the transaction's first (so no instance of it entered the live lane before).
   */
  markBulk(): void {
    this.open = { ids: new Set(), bulk: true, entered: [] };
  }

  /** Whether split may read the database for this batch (it must then run in the batch's transaction). */
  readsDatabase(tx: BatchTransactions): boolean {
    return this.threshold > 0 && (tx.open || (tx.continues && this.open !== null));
  }

  /**
   * The lanes of the instances a streamed batch dirties (`all`, lookups followed), with what each of
   * its transactions dirties directly (`parts`, one per start of `tx`: DirtySetFinder.directParts).
   * `liveWaiting` tells which ids already wait in the live lane.
   */
  async split(
    db: Kysely<StateDb>,
    all: Map<string, InstanceRef>,
    parts: readonly DirtySet[],
    tx: BatchTransactions,
    liveWaiting: (ids: string[]) => Promise<Set<string>>,
  ): Promise<LaneSplit> {
    const continued = tx.continues ? this.open : null;
    this.open = null;
    const everyLive: LaneSplit = { lanes: new Map(), demote: [] };
    if (this.threshold <= 0) return everyLive;
    // Fewer instances in the whole batch than the threshold: no transaction of it can be bulk.
    if (!continued && !tx.open && all.size <= this.threshold) return everyLive;

    const lanes = new Map<string, number>();
    let demote: string[] = [];
    const starts = tx.starts.length > 0 ? tx.starts : [0];
    for (let k = 0; k < starts.length; k++) {
      // One transaction in the batch: its instances are those already found.
      const part = starts.length === 1 ? null : parts[k];
      if (part === undefined)
        throw new CdcError('INTERNAL', `no dirty set for transaction ${k} of the batch`);
      const refs = part === null ? all : await this.dirty.follow(db, part);
      const t: OpenTransaction =
        k === 0 && continued ? continued : { ids: new Set(), bulk: false, entered: [] };
      if (!t.bulk) {
        for (const id of refs.keys()) {
          t.ids.add(id);
          if (t.ids.size > this.threshold) {
            t.bulk = true;
            break;
          }
        }
        if (t.bulk) {
          demote = t.entered;
          t.entered = [];
          t.ids = new Set();
        }
      }
      const last = k === starts.length - 1;
      if (last && tx.open && !t.bulk) {
        // It may still turn out bulk: remember which of its instances it brought into the live lane.
        const candidates = [...refs.keys()].filter((id) => lanes.get(id) !== LANE_LIVE);
        const waiting = candidates.length > 0 ? await liveWaiting(candidates) : new Set<string>();
        for (const id of candidates) if (!waiting.has(id)) t.entered.push(id);
      }
      const lane = t.bulk ? LANE_BULK : LANE_LIVE;
      for (const id of refs.keys()) {
        const before = lanes.get(id);
        if (before === undefined || lane < before) lanes.set(id, lane);
      }
      if (last && tx.open) this.open = t;
    }
    return { lanes, demote };
  }
}
