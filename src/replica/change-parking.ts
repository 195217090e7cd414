// Owns what happens to a source change the replica cannot store: a database error tied to the
// change's values (SQLSTATE class 22 data exception, 23 integrity, 54 program limit) is recorded in
// `parked_change` with its LSN, table, key and error, and the instances it touches are parked with
// that reason. Invariant: a parked change counts as applied (the checkpoint may pass it, since the
// record is what was applied); any other error is not parked (it fails the batch, the stream
// replays), so nothing is parked for a cause that a retry could cure.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import { formatLsn } from '../core/lsn.js';
import type { InstanceRef } from '../mapping/contract.js';
import type { RowChange } from './row-change.js';

/** Classes of SQLSTATE that name the values written, not the database's condition. */
const ROW_CLASSES = new Set(['22', '23', '54']);

/** The SQLSTATE of a database error tied to the values written, or null for any other error. */
export function rowErrorState(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || code.length !== 5) return null;
  return ROW_CLASSES.has(code.slice(0, 2)) ? code : null;
}

export interface ParkedChange {
  lsn: bigint;
  table: string;
  reason: string;
  instances: number;
}

/** The error text kept and shown (a value in a message can be as long as the row). */
const MAX_ERROR = 500;

export function parkedReason(change: RowChange, state: string, error: unknown): string {
  const message = String((error as { message?: unknown } | null)?.message ?? error);
  const text = message.length > MAX_ERROR ? `${message.slice(0, MAX_ERROR)}…` : message;
  return `the replica cannot store the ${change.kind === 'upsert' ? 'insert/update' : change.kind} of ${change.table} at ${formatLsn(change.lsn)} (SQLSTATE ${state}): ${text}`;
}

/**
 * Records `change` as parked and parks the instances it touches (`refs`, already bumped by the
 * caller when possible). Runs in the batch's transaction; if parking the instances fails too (the
 * instance rows themselves cannot take the values), the record alone is kept.
 */
export async function recordParkedChange(
  trx: Kysely<StateDb>,
  schema: string,
  slot: string,
  change: RowChange,
  pk: string | null,
  state: string,
  reason: string,
  refs: ReadonlyMap<string, InstanceRef>,
  bump: (refs: ReadonlyMap<string, InstanceRef>) => Promise<void>,
  park: (ids: readonly string[], reason: string, code: string) => Promise<number>,
): Promise<ParkedChange> {
  const ids = [...refs.keys()];
  let parked = 0;
  if (ids.length > 0) {
    await sql`savepoint park_instances`.execute(trx);
    try {
      await bump(refs);
      parked = await park(ids, reason, 'REPLICA_WRITE');
      await sql`release savepoint park_instances`.execute(trx);
    } catch {
      await sql`rollback to savepoint park_instances`.execute(trx);
    }
  }
  await sql`insert into ${sql.id(schema, 'parked_change')} (slot, lsn, tbl, pk, kind, sqlstate, error, instances)
    values (${slot}, ${change.lsn.toString()}::bigint, ${change.table}, ${pk}, ${change.kind}, ${state}, ${reason},
      ${JSON.stringify(ids)}::jsonb)
    on conflict (slot, lsn, tbl) do update set error = excluded.error, instances = excluded.instances, parked_at = now()`.execute(
    trx,
  );
  return { lsn: change.lsn, table: change.table, reason, instances: parked };
}

/** Parked changes of a slot: how many, and the latest (for `status`). */
export async function readParkedChanges(
  db: Kysely<StateDb>,
  schema: string,
  slot: string,
  limit: number,
): Promise<{ count: number; recent: { lsn: string; table: string; error: string; at: Date }[] }> {
  const t = sql.id(schema, 'parked_change');
  const { rows: n } = await sql<{
    n: number;
  }>`select count(*)::int as n from ${t} where slot = ${slot}`.execute(db);
  const { rows } = await sql<{ lsn: string; tbl: string; error: string; parked_at: Date }>`
    select lsn::text, tbl, error, parked_at from ${t} where slot = ${slot} order by id desc limit ${limit}`.execute(
    db,
  );
  return {
    count: Number(n[0]?.n ?? 0),
    recent: rows.map((r) => ({
      lsn: formatLsn(BigInt(r.lsn)),
      table: r.tbl,
      error: r.error,
      at: new Date(r.parked_at),
    })),
  };
}
