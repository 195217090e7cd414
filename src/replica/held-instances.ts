// Which instances hold part of a source transaction whose rest is not in the replica yet, so the
// sync stage must not push them. Two holds:
// - the stream's: a transaction larger than a batch (or cut by the batch timer) reaches the replica
//   in several batches. The bump of an instance it touched records the transaction's commit LSN + 1
//   in instance.hold_lsn; the instance is held while that is beyond the checkpoint, which passes it
//   with the batch that applies the commit. Released without writing a row: holds set and cleared
//   row by row measured dearer in the ingest bench (docs/benchmarks.md);
// - the spool's (table `spool_hold`, owned here): instances a spooled batch of a bulk transaction
//   changed, until the spool is found empty.
// Invariant: an instance is due only when both conditions of notHeld hold.
import { sql, type RawBuilder } from 'kysely';

export class HeldInstances {
  constructor(private readonly schema: string) {}

  private t(name: string) {
    return sql.id(this.schema, name);
  }

  /**
   * A condition: instance row `alias` is held by nothing. The stream's hold ends at the highest
   * checkpoint of the schema: the active slot's (an older slot's row, left by a re-snapshot, is lower).
   */
  notHeld(alias: string): RawBuilder<unknown> {
    const id = sql.ref(`${alias}.id`);
    const lsn = sql.ref(`${alias}.hold_lsn`);
    return sql`(${lsn} is null or ${lsn} <= (select max(lsn) from ${this.t('checkpoint')}))
      and not exists (select 1 from ${this.t('spool_hold')} h where h.id = ${id})`;
  }

  /** Holds `ids` until the spool is found empty (releaseSpool). */
  holdForSpool(ids: readonly string[]): RawBuilder<unknown> | null {
    if (ids.length === 0) return null;
    return sql`insert into ${this.t('spool_hold')} (id) select unnest(${ids}::text[]) on conflict do nothing`;
  }

  /** The spool was found empty: every transaction it held is in the replica whole. */
  releaseSpool(): RawBuilder<unknown> {
    return sql`delete from ${this.t('spool_hold')}`;
  }
}
