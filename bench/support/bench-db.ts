// The database a benchmark runs against: a fresh database on BENCH_DATABASE_URL's server, or on a
// throwaway Postgres 17 (wal_level=logical) started for the run; dropped with its slots afterwards.
// Also the source-side helpers benchmarks poll: WAL positions and the connector's checkpoint.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { parseLsn, type Lsn } from '../../src/core/lsn.js';
import { startThrowawayPostgres } from '../../test/support/throwaway-postgres.js';
import { seedUsers } from '../../test/support/legacy-workload.js';
import { log, sleep, type Cleanup } from './bench-env.js';

export const LEGACY_SCHEMA_SQL = readFileSync(
  new URL('../../examples/legacy-approval/schema.sql', import.meta.url),
  'utf8',
);
export const LEGACY_MAPPINGS_PATH = new URL('../../mappings/legacy-approval.yaml', import.meta.url).pathname;

export interface BenchDatabase {
  url: string;
  /** A small pool for the workload and for polling. */
  pool: pg.Pool;
  server: 'throwaway' | 'BENCH_DATABASE_URL' | 'given';
  /** The throwaway server's data directory (for per-process CPU); undefined on BENCH_DATABASE_URL. */
  dataDir?: string;
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Starts (or connects to) the server, creates a fresh database with the legacy schema and 20 users. */
export async function startBenchDatabase(
  cleanup: Cleanup,
  extraSettings: Record<string, string> = {},
  /** A server the caller started (e.g. debian-postgres.ts), used instead of the other two. */
  serverUrl?: string,
): Promise<BenchDatabase> {
  let adminUrl = serverUrl ?? process.env.BENCH_DATABASE_URL;
  let dataDir: string | undefined;
  const server = serverUrl ? 'given' : adminUrl ? 'BENCH_DATABASE_URL' : 'throwaway';
  if (!adminUrl) {
    log('starting a throwaway Postgres 17');
    const cluster = await startThrowawayPostgres({
      // Commits flush WAL at once, as on a production server; with synchronous_commit=off the walsender
      // would only see a commit after the WAL writer's next round (up to 200 ms later).
      synchronous_commit: 'on',
      max_wal_size: '4GB',
      checkpoint_timeout: '15min',
      ...extraSettings,
    });
    cleanup.add('throwaway Postgres', () => cluster.stop());
    adminUrl = cluster.url;
    dataDir = cluster.dir;
  }
  const name = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  cleanup.add(`database ${name}`, () => dropDatabase(adminUrl, name));
  const url = withDatabase(adminUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 6 });
  pool.on('error', () => undefined);
  cleanup.add('bench pool', () => pool.end());
  await pool.query(LEGACY_SCHEMA_SQL);
  await seedUsers(pool, 20);
  return { url, pool, server, ...(dataDir ? { dataDir } : {}) };
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(
      `select pg_terminate_backend(active_pid) from pg_replication_slots where database = $1 and active_pid is not null`,
      [name],
    );
    await sleep(200);
    await c.query(
      `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1`,
      [name],
    );
    await c.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await c.end();
  }
}

/** The WAL insert position now: after a commit returned, it is at or past that commit's end. */
export async function walInsertLsn(pool: pg.Pool): Promise<Lsn> {
  const { rows } = await pool.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
  return parseLsn(rows[0]?.lsn ?? '0/0');
}

/** The connector's stored checkpoint (replica holds the source up to here), or null before setup. */
export async function checkpointLsn(
  pool: pg.Pool,
  schema = 'approval_cdc',
  slot = 'approval_cdc',
): Promise<Lsn | null> {
  try {
    const { rows } = await pool.query<{ lsn: string; phase: string }>(
      `select lsn::text, phase from "${schema}".checkpoint where slot = $1`,
      [slot],
    );
    const row = rows[0];
    return row && row.phase === 'streaming' ? BigInt(row.lsn) : null;
  } catch {
    return null;
  }
}

/** Polls until the checkpoint reaches `target`; resolves with Date.now() at the first poll that saw it. */
export async function waitForCheckpoint(
  pool: pg.Pool,
  target: Lsn,
  opts: {
    timeoutMs: number;
    pollMs?: number;
    onPoll?: (lsn: Lsn | null) => void;
    schema?: string;
    slot?: string;
  },
): Promise<number> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastLog = 0;
  for (;;) {
    const lsn = await checkpointLsn(pool, opts.schema, opts.slot);
    if (lsn !== null && lsn >= target) return Date.now();
    opts.onPoll?.(lsn);
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      const behind =
        lsn === null
          ? 'no checkpoint yet'
          : `${(Number(target - lsn) / 2 ** 20).toFixed(1)} MB of WAL behind`;
      log(`waiting for the connector's checkpoint: ${behind}`);
    }
    if (Date.now() > deadline)
      throw new Error(`checkpoint did not reach the target within ${opts.timeoutMs} ms`);
    await sleep(opts.pollMs ?? 50);
  }
}
