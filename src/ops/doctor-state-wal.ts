// The state-placement finding of `approval-cdc doctor`: when the state schema lives in the legacy
// database, an estimate of the WAL it adds there and how it compares with max_slot_wal_keep_size.
// Invariant: read-only (catalog statistics and settings); the estimate says how it was made.
import type pg from 'pg';
import type { MappingSet } from '../mapping/contract.js';
import type { StateLocation } from '../replica/state-store.js';
import { splitTable } from '../source/catalog.js';
import { fail, pass, type Finding } from './doctor-finding.js';

/**
 * WAL the replica writes per copied row when it lives in the legacy database: the row image (a JSON
 * document of the mapped columns) with its primary-key and lookup index entries, the instance row of
 * each instance and the page's checkpoint, with full-page images after each checkpoint. Measured with
 * `npm run bench -- initial-load --state source` on the example schema (docs/benchmarks.md); wider
 * rows write more.
 */
export const STATE_WAL_BYTES_PER_ROW = 1800;

const MB = 1024 * 1024;
const mb = (bytes: number) => `${Math.round(bytes / MB).toLocaleString('en-US')} MB`;

export async function stateWalFindings(
  source: pg.ClientBase,
  location: StateLocation,
  mappings: MappingSet | null,
): Promise<Finding[]> {
  if (location.kind !== 'source')
    return [
      pass(
        'state-placement',
        `the state lives in ${location.description}: the connector writes nothing into the legacy database but its slot and publication`,
      ),
    ];
  const tables = [...(mappings?.tables.keys() ?? [])].map(splitTable);
  const { rows } = await source.query<{ rows: string | null; keep_mb: string }>(
    `select (select sum(greatest(c.reltuples, 0))::bigint
               from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where (n.nspname, c.relname) in (select * from unnest($1::text[], $2::text[]))) as rows,
            (select setting from pg_settings where name = 'max_slot_wal_keep_size') as keep_mb`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  const rowCount = Number(rows[0]?.rows ?? 0);
  const keepMb = Number(rows[0]?.keep_mb ?? -1);
  const estimate = rowCount * STATE_WAL_BYTES_PER_ROW;
  const how = `about ${STATE_WAL_BYTES_PER_ROW.toLocaleString('en-US')} bytes of WAL per copied row (measured on the example schema) x ${rowCount.toLocaleString('en-US')} rows in the mapped tables (pg_class.reltuples) = ~${mb(estimate)} during the first copy, and about as much again per changed row afterwards`;
  const move =
    'unset APPROVAL_CDC_STATE_URL for the embedded store (or point it at another server); README: "Moving the state out of the legacy database"';
  const keep =
    keepMb < 0
      ? 'max_slot_wal_keep_size is unlimited, so that WAL stays on the legacy disk until the stream reads past it'
      : estimate > (keepMb * MB) / 2
        ? `that is more than half of max_slot_wal_keep_size = ${mb(keepMb * MB)}: the slot, created before the copy, retains it all, and Postgres may invalidate this slot (or another one on the server) before streaming catches up`
        : `max_slot_wal_keep_size = ${mb(keepMb * MB)} leaves room for it`;
  return [
    fail(
      'state-placement',
      'warn',
      `the state lives in ${location.description}: it needs CREATE there and writes WAL into the legacy server, ${how}; ${keep}`,
      move,
    ),
  ];
}
