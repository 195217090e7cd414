// copy-floor: the least a copy into the replica can cost on this machine, as a yardstick for
// initial-load's ratio to pg_dump. The same 1,000,000 legacy rows as initial-load go as images
// straight from the legacy server's `COPY (select ...) TO STDOUT` into the embedded state server's
// `COPY ... FROM STDIN`: no connector code in between (each row's JSON is made by the legacy server),
// no staging, no merge, no instances. Three passes, each into a fresh table with row_image's columns:
// the document as text (what parsing it into jsonb costs), as jsonb without any index, and as jsonb
// with row_image's unique key (index-keys.ts), which every real copy needs to find an image again. Tables are copied --concurrency at a time, as the connector's copy does.
// pg_dump of the same tables into /dev/null is timed in the same run. Measures only; keeps nothing.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { startEmbeddedState } from '../src/replica/embedded-state.js';
import { imageKeyColumns } from '../src/replica/index-keys.js';
import type { BenchFn } from './run.js';
import { startBenchDatabase } from './support/bench-db.js';
import { log, numFlag, round } from './support/bench-env.js';
import { bulkWorkload } from './support/bulk-workload.js';
import { cpuSnapshot, cpuSplit } from './support/process-cpu.js';
import {
  DEBIAN_PG15_BIN,
  debianPostgres15Available,
  startDebianPostgres15,
  timePgDump,
} from './support/debian-postgres.js';

const TABLES = ['oa.requests', 'oa.steps', 'oa.cc', 'oa.users'];
/** The replica's image as text rather than jsonb shows what parsing the documents costs. */
const PASSES = [
  { table: 'floor_text', indexed: false, data: 'text' },
  { table: 'floor_plain', indexed: false, data: 'jsonb' },
  { table: 'floor_keyed', indexed: true, data: 'jsonb' },
] as const;

export const run: BenchFn = async (flags, cleanup) => {
  if (!debianPostgres15Available()) throw new Error(`copy-floor needs pg_dump from ${DEBIAN_PG15_BIN}`);
  const rows = numFlag(flags, 'rows', 1_000_000);
  const concurrency = numFlag(flags, 'concurrency', 2);
  const settings = { synchronous_commit: 'on', max_wal_size: '4GB', checkpoint_timeout: '15min' };
  const server = await startDebianPostgres15(settings);
  cleanup.add('PostgreSQL 15', () => server.stop());
  const db = await startBenchDatabase(cleanup, settings, server.url);
  log(`writing ${rows} rows`);
  await bulkWorkload(db.pool, { rows, txRows: 20_000, insertOnly: true, firstReq: 1_000_000, label: 'data' });
  await db.pool.query(`vacuum analyze ${TABLES.join(', ')}`);
  const keys = await keyColumns(db.pool);
  const sourceRows = [...keys.values()].reduce((n, k) => n + k.rows, 0);

  log('pg_dump --data-only of the same tables into /dev/null');
  const pgDumpSeconds = await timePgDump(db.url, TABLES);

  const stateDir = await mkdtemp(join(tmpdir(), 'acs-floor-'));
  await chmod(stateDir, 0o755);
  cleanup.add('state directory', () => rm(stateDir, { recursive: true, force: true }));
  const state = await startEmbeddedState(stateDir, { create: true });
  cleanup.add('state server', () => state.release());
  const statePool = new pg.Pool({ connectionString: state.url, max: concurrency + 1 });
  cleanup.add('state pool', () => statePool.end());
  const servers = { source: server.dataDir, state: stateDir };

  const passes = [];
  for (const { table, indexed, data } of PASSES) {
    await statePool.query(`drop table if exists ${table}`);
    await statePool.query(
      `create table ${table} (tbl text not null, pk text not null, lsn bigint not null, deleted boolean not null, data ${data} not null)`,
    );
    if (indexed) await statePool.query(`create unique index on ${table} (${imageKeyColumns()})`);
    await statePool.query('checkpoint');
    log(`${table}: copying ${sourceRows} rows, ${concurrency} tables at a time`);
    const split0 = cpuSnapshot(servers);
    const c0 = Date.now();
    const queue = [...TABLES];
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
          await copyTable(db.pool, statePool, t, keys.get(t)?.columns ?? [], table, data === 'text');
        }
      }),
    );
    const seconds = (Date.now() - c0) / 1000;
    passes.push({
      table,
      data,
      uniqueKey: indexed,
      seconds: round(seconds, 2),
      rowsPerSec: Math.round(sourceRows / seconds),
      ratioToPgDump: round(pgDumpSeconds / seconds),
      cpuSplit: cpuSplit(split0, cpuSnapshot(servers)),
    });
    log(`${table}: ${seconds.toFixed(1)} s (${Math.round(sourceRows / seconds)} rows/s)`);
  }
  return {
    rows: sourceRows,
    concurrency,
    pgDumpSeconds: round(pgDumpSeconds, 2),
    pgDumpRowsPerSec: Math.round(sourceRows / pgDumpSeconds),
    passes,
  };
};

/** Each table's key columns and row count. */
async function keyColumns(pool: pg.Pool): Promise<Map<string, { columns: string[]; rows: number }>> {
  const out = new Map<string, { columns: string[]; rows: number }>();
  for (const t of TABLES) {
    const { rows } = await pool.query<{ col: string }>(
      `select a.attname as col from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
       where i.indrelid = $1::regclass and i.indisprimary order by array_position(i.indkey, a.attnum)`,
      [t],
    );
    const { rows: n } = await pool.query<{ n: string }>(`select count(*)::text as n from ${t}`);
    out.set(t, { columns: rows.map((r) => r.col), rows: Number(n[0]?.n ?? 0) });
  }
  return out;
}

/** One table's rows as images, legacy COPY out straight into state COPY in. */
async function copyTable(
  source: pg.Pool,
  target: pg.Pool,
  t: string,
  key: string[],
  into: string,
  text: boolean,
): Promise<void> {
  const pk =
    key.length === 1 ? `t.${key[0]}::text` : `json_build_array(${key.map((k) => `t.${k}`).join(', ')})::text`;
  const out = await source.connect();
  const inn = await target.connect();
  try {
    await pipeline(
      out.query(
        copyTo(
          `copy (select '${t}', ${pk}, 0, false, ${text ? 'to_json(t)' : 'to_jsonb(t)'} from ${t} t) to stdout`,
        ),
      ),
      inn.query(copyFrom(`copy ${into} (tbl, pk, lsn, deleted, data) from stdin`)),
    );
  } finally {
    out.release();
    inn.release();
  }
}
