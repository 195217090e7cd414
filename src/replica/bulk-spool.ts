// Owns the bulk spool: the row changes of a large source transaction that the replica writer set
// aside so that the transactions committed after it reach the replica (and Feishu) first; the writer
// applies them afterwards, in the bulk lane. Invariants:
// - a spooled batch is durable before the stream moves on: the checkpoint passes the transaction's
//   commit only in a later batch, after the spool row committed, so a crash loses no change;
// - applying spooled changes late is safe because an image is only replaced by one from a later LSN:
//   a change that a later one overtook is skipped, as on a replay; an unchanged TOAST value is the
//   one exception, so the writer applies the whole spool before a change that relies on one whose row
//   may be spooled (and before a truncate, which would otherwise be undone);
// - rows older than the last snapshot copy (copy_lsn) are superseded by it and dropped unapplied;
// - a batch names the instances its changes belong to, or none when they cannot all be named (null):
//   a look for an instance's changes reads every batch that names it or names none.
import { sql, type Kysely } from 'kysely';
import { CdcError } from '../errors.js';
import type { StateDb } from './state-schema.js';
import type { ChangeValues, RowChange } from './row-change.js';

export interface SpooledBatch {
  id: string;
  changes: RowChange[];
}

/** A change as JSON: values as [column, value] pairs, [column] for an unchanged TOAST value. */
type Encoded = [kind: 'u' | 'i' | 'd', table: string, lsn: string, values: Pair[], oldKey?: Pair[]];
type Pair = [string, string | null] | [string];

const pairsOf = (values: ChangeValues): Pair[] =>
  Object.keys(values).map((k) => {
    const v = values[k];
    return v === undefined ? [k] : [k, v];
  });

function valuesOf(pairs: readonly Pair[]): ChangeValues {
  const out: Record<string, string | null | undefined> = {};
  for (const p of pairs) out[p[0]] = p.length === 1 ? undefined : p[1];
  return out;
}

export function encodeChanges(changes: readonly RowChange[]): string {
  return JSON.stringify(
    changes.map((c): Encoded => {
      if (c.kind === 'truncate') throw new CdcError('INTERNAL', 'a truncate is never spooled');
      if (c.kind === 'delete') return ['d', c.table, c.lsn.toString(), pairsOf(c.values)];
      const e: Encoded = [c.fresh ? 'i' : 'u', c.table, c.lsn.toString(), pairsOf(c.values)];
      if (c.oldKey) e.push(pairsOf(c.oldKey));
      return e;
    }),
  );
}

export function decodeChanges(text: string): RowChange[] {
  return (JSON.parse(text) as Encoded[]).map(([kind, table, lsn, values, oldKey]): RowChange => {
    if (kind === 'd') return { kind: 'delete', table, lsn: BigInt(lsn), values: valuesOf(values) };
    return {
      kind: 'upsert',
      table,
      lsn: BigInt(lsn),
      values: valuesOf(values),
      ...(oldKey ? { oldKey: valuesOf(oldKey) } : {}),
      ...(kind === 'i' ? { fresh: true as const } : {}),
    };
  });
}

export class BulkSpool {
  constructor(
    private readonly schema: string,
    private readonly slot: string,
  ) {}

  private t(name: string) {
    return sql.id(this.schema, name);
  }

  /**
   * Sets a batch of changes (no truncate) aside, with the instances they belong to (null: not known,
   * e.g. a lookup row's change reaches instances no row names).
   */
  async put(
    db: Kysely<StateDb>,
    changes: readonly RowChange[],
    instances: ReadonlySet<string> | null,
  ): Promise<void> {
    let last = 0n;
    for (const c of changes) if (c.lsn > last) last = c.lsn;
    const ids = instances === null ? null : [...instances];
    await sql`insert into ${this.t('bulk_spool')} (slot, last_lsn, changes, instances)
      values (${this.slot}, ${last.toString()}::bigint, ${encodeChanges(changes)}, ${ids}::text[])`.execute(
      db,
    );
  }

  /** The oldest spooled batch (null: none); rows a later snapshot copy superseded are dropped first. */
  async oldest(db: Kysely<StateDb>): Promise<SpooledBatch | null> {
    await sql`delete from ${this.t('bulk_spool')} s using ${this.t('checkpoint')} c
      where s.slot = ${this.slot} and c.slot = s.slot and s.last_lsn < c.copy_lsn`.execute(db);
    const { rows } = await sql<{ id: string; changes: string }>`select id::text, changes
      from ${this.t('bulk_spool')} where slot = ${this.slot} order by id limit 1`.execute(db);
    const row = rows[0];
    return row ? { id: row.id, changes: decodeChanges(row.changes) } : null;
  }

  /**
   * The spooled batches that may hold a change of one of `instances` (those that name one of them,
   * and those whose instances are not known), oldest first: a change to an instance in the spool
   * takes that instance's changes. Read and decoded one at a time: a spool can hold a whole data fix
   * (100 batches for 200,000 rows), which decoded at once would sit in the connector's memory beside
   * the stream's own batches, and decoding the batches that do not hold the instance cost the stream
   * a whole spool's worth of CPU for each batch that touched it.
   */
  async *batches(db: Kysely<StateDb>, instances: ReadonlySet<string>): AsyncGenerator<SpooledBatch> {
    const ids = [...instances];
    let after = '0';
    for (;;) {
      const { rows } = await sql<{ id: string; changes: string }>`select id::text, changes
        from ${this.t('bulk_spool')} where slot = ${this.slot} and id > ${after}::bigint
          and (instances is null or instances && ${ids}::text[])
        order by id limit 1`.execute(db);
      const row = rows[0];
      if (!row) return;
      after = row.id;
      yield { id: row.id, changes: decodeChanges(row.changes) };
    }
  }

  async remove(db: Kysely<StateDb>, id: string): Promise<void> {
    await sql`delete from ${this.t('bulk_spool')} where id = ${id}::bigint`.execute(db);
  }

  /** What waits in the spool: batches of changes set aside, and when the oldest was (null: none). */
  async backlog(db: Kysely<StateDb>): Promise<{ batches: number; oldest: Date | null }> {
    const { rows } = await sql<{ batches: number; oldest: Date | null }>`select count(*)::int as batches,
      min(created_at) as oldest from ${this.t('bulk_spool')} where slot = ${this.slot}`.execute(db);
    return { batches: rows[0]?.batches ?? 0, oldest: rows[0]?.oldest ?? null };
  }

  async isEmpty(db: Kysely<StateDb>): Promise<boolean> {
    const { rows } =
      await sql`select 1 from ${this.t('bulk_spool')} where slot = ${this.slot} limit 1`.execute(db);
    return rows.length === 0;
  }
}
