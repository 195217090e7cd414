// Owns the replication slot on the source (and dropping the publication): created idempotently,
// inspected, dropped; source-access.ts decides what the publication needs. Invariant: the slot is
// only ever created together with an exported snapshot whose copy the caller performs before
// streaming (no gap between copy and stream).
import pg from 'pg';
import { CdcError } from '../errors.js';
import { parseLsn, type Lsn } from '../core/lsn.js';

export interface SlotInfo {
  slotName: string;
  plugin: string | null;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: Lsn | null;
  restartLsn: Lsn | null;
  walStatus: string | null;
  safeWalSize: bigint | null;
  lagBytes: bigint | null;
  retainedBytes: bigint | null;
}

export async function readSlot(client: pg.ClientBase, slot: string): Promise<SlotInfo | null> {
  const { rows } = await client.query<{
    slot_name: string;
    plugin: string;
    active: boolean;
    active_pid: number | null;
    confirmed_flush_lsn: string | null;
    restart_lsn: string | null;
    wal_status: string | null;
    safe_wal_size: string | null;
    lag_bytes: string | null;
    retained_bytes: string | null;
  }>(
    `select slot_name, plugin, active, active_pid, confirmed_flush_lsn::text, restart_lsn::text, wal_status,
       safe_wal_size::text,
       (pg_current_wal_lsn() - confirmed_flush_lsn)::text as lag_bytes,
       (pg_current_wal_lsn() - restart_lsn)::text as retained_bytes
     from pg_replication_slots where slot_name = $1 and database = current_database()`,
    [slot],
  );
  const r = rows[0];
  if (!r) return null;
  const big = (v: string | null) => (v === null ? null : BigInt(v.split('.')[0] ?? '0'));
  return {
    slotName: r.slot_name,
    plugin: r.plugin,
    active: r.active,
    activePid: r.active_pid,
    confirmedFlushLsn: r.confirmed_flush_lsn ? parseLsn(r.confirmed_flush_lsn) : null,
    restartLsn: r.restart_lsn ? parseLsn(r.restart_lsn) : null,
    walStatus: r.wal_status,
    safeWalSize: big(r.safe_wal_size),
    lagBytes: big(r.lag_bytes),
    retainedBytes: big(r.retained_bytes),
  };
}

export interface CreatedSlot {
  consistentPoint: Lsn;
  snapshotName: string;
  /** The replication connection that exported the snapshot; it must stay open and idle until the copy has imported it. */
  connection: pg.Client;
}

/** The database a slot of this name belongs to, if any (slot names are global to the cluster). */
export async function slotDatabase(client: pg.ClientBase, slot: string): Promise<string | null> {
  const { rows } = await client.query<{ database: string | null }>(
    'select database from pg_replication_slots where slot_name = $1',
    [slot],
  );
  return rows[0] ? (rows[0].database ?? '(physical)') : null;
}

export async function createSlotWithSnapshot(sourceUrl: string, slot: string): Promise<CreatedSlot> {
  const connection = new pg.Client({
    connectionString: sourceUrl,
    replication: 'database',
  } as pg.ClientConfig);
  connection.on('error', () => undefined);
  await connection.connect();
  try {
    const shown = await connection.query<{ server_version_num: string }>('show server_version_num');
    const version = Number(shown.rows[0]?.server_version_num);
    const sql =
      version >= 150000
        ? `CREATE_REPLICATION_SLOT "${slot}" LOGICAL pgoutput (SNAPSHOT 'export')`
        : `CREATE_REPLICATION_SLOT "${slot}" LOGICAL pgoutput EXPORT_SNAPSHOT`;
    const { rows } = await connection.query<{ consistent_point: string; snapshot_name: string }>(sql);
    const row = rows[0];
    if (!row) throw new CdcError('SOURCE_SETUP', 'CREATE_REPLICATION_SLOT returned no row');
    return { consistentPoint: parseLsn(row.consistent_point), snapshotName: row.snapshot_name, connection };
  } catch (cause) {
    await connection.end().catch(() => undefined);
    throw new CdcError('SOURCE_SETUP', `cannot create replication slot ${slot}`, { cause });
  }
}

export async function dropSlot(client: pg.ClientBase, slot: string): Promise<boolean> {
  const { rows } = await client.query(
    `select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = $1 and active_pid is not null`,
    [slot],
  );
  if (rows.length > 0) await new Promise((r) => setTimeout(r, 200));
  const res = await client.query(
    'select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and database = current_database()',
    [slot],
  );
  return (res.rowCount ?? 0) > 0;
}

export async function dropPublication(client: pg.ClientBase, publication: string): Promise<void> {
  await client.query(`drop publication if exists "${publication}"`);
}
