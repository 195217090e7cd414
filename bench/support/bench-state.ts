// Where a benchmark's connector keeps its state: by default the embedded state server, as
// `approval-cdc run` does without APPROVAL_CDC_STATE_URL (started here once, kept up between the
// Pipelines a bench starts and stops, stopped by cleanup); `source` puts it in the bench database
// (the walsender then also decodes the replica's own writes), `separate` in a second database of the
// source server. Measures nothing itself.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedState } from '../../src/replica/embedded-state.js';
import type { BenchDatabase } from './bench-db.js';
import { log, type Cleanup } from './bench-env.js';

export type StateMode = 'embedded' | 'source' | 'separate';

export interface BenchState {
  mode: StateMode;
  /** Settings overrides for benchSettings. */
  overrides: Record<string, unknown>;
  /** A pool on the state database (checkpoint, instance rows). */
  pool: pg.Pool;
  /** The embedded server's directory (its processes' CPU is the state's), if embedded. */
  dataDir?: string;
}

export function stateModeOf(flag: string | undefined): StateMode {
  const mode = flag ?? 'embedded';
  if (mode !== 'embedded' && mode !== 'source' && mode !== 'separate')
    throw new Error(`--state ${mode}: embedded, source or separate`);
  return mode;
}

export async function openBenchState(
  cleanup: Cleanup,
  db: BenchDatabase,
  mode: StateMode,
): Promise<BenchState> {
  if (mode === 'source') return { mode, overrides: {}, pool: db.pool };
  if (mode === 'separate') {
    const name = `${new URL(db.url).pathname.slice(1)}_state`;
    await db.pool.query(`create database "${name}"`);
    const url = new URL(db.url);
    url.pathname = `/${name}`;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    cleanup.add('state pool', () => pool.end());
    return { mode, overrides: { stateUrl: url.toString() }, pool };
  }
  const stateDir = await mkdtemp(join(tmpdir(), 'acs-bench-'));
  await chmod(stateDir, 0o755);
  cleanup.add('embedded state directory', () => rm(stateDir, { recursive: true, force: true }));
  log('starting the embedded state store');
  const server = await startEmbeddedState(stateDir, { create: true });
  cleanup.add('embedded state store', () => server.release());
  // A Pipeline adopts the running server and stops it when it stops, unless another client is
  // connected: this one keeps it up until cleanup.
  const keeper = new pg.Client({ connectionString: server.url });
  keeper.on('error', () => undefined);
  await keeper.connect();
  cleanup.add('embedded state keeper', () => keeper.end());
  const pool = new pg.Pool({ connectionString: server.url, max: 2 });
  pool.on('error', () => undefined);
  cleanup.add('state pool', () => pool.end());
  return { mode, overrides: { stateUrl: undefined, stateDir }, pool, dataDir: stateDir };
}
