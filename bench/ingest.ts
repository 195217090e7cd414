// ingest: how fast the connector turns WAL into its replica, against pg_recvlogical reading the very
// same WAL (pgoutput, same publication) into a file. Method: for each of --repeat rounds, a connector
// (its own slot and state schema) starts once on the empty schema and stops, and a slot is created
// for pg_recvlogical; the bulk workload (--rows row changes in transactions of --tx-rows) is written
// once and the end LSN recorded; then, round by round, each consumer catches up from its slot, one
// after the other: pg_recvlogical with --endpos (time to exit), the connector (Pipeline in-process)
// until its checkpoint reaches the end LSN. Rates are row changes per second; a round's ratio is
// connector / pg_recvlogical of that round, and the figures reported are the medians over rounds:
// this 2-vCPU VM varies by tens of percent from minute to minute, and interleaving the two
// consumers round by round exposes both to the same drift.
// Pushes are held by default (--push hold): ingest alone is measured, as in production, where Feishu's
// 1,000 calls a minute keep the sync stage nearly idle. --push noop completes every push at once, so the
// sync stage also loads and builds all 37,500 instances (6,000 pushes/s) on the same two cores.
// The replica goes where `approval-cdc run` puts it by default, the embedded state server (--state).
// Each round prints the CPU seconds per process (this Node process, the source's walsender and
// backends, the state server's backends, and pg_recvlogical during its own catch-up), from /proc.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import type pg from 'pg';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLsn } from '../src/core/lsn.js';
import type { PushFn } from '../src/sync/sync-scheduler.js';
import type { BenchFn } from './run.js';
import { startBenchDatabase, waitForCheckpoint, walInsertLsn } from './support/bench-db.js';
import { log, numFlag, percentile, round } from './support/bench-env.js';
import { benchSettings, loadBenchMappings, startPipeline } from './support/bench-pipeline.js';
import { bulkWorkload } from './support/bulk-workload.js';
import { cpuSnapshot, cpuSplit, sampleCpu } from './support/process-cpu.js';
import { openBenchState, stateModeOf } from './support/bench-state.js';

const PG_RECVLOGICAL = process.env.PG_RECVLOGICAL ?? '/usr/lib/postgresql/15/bin/pg_recvlogical';
const RECV_SLOT = 'bench_recvlogical';

function runRecvlogical(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PG_RECVLOGICAL, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

export const run: BenchFn = async (flags, cleanup) => {
  const rows = numFlag(flags, 'rows', 300_000);
  const txRows = numFlag(flags, 'tx-rows', 1000);
  const rounds = numFlag(flags, 'repeat', 3);
  const pushMode = flags.push ?? 'hold';
  if (pushMode !== 'noop' && pushMode !== 'hold') throw new Error('--push is noop or hold');

  // --statements: the state server's statements by total time at the end (pg_stat_statements; with
  // --state separate or source, whose server the bench starts with the module loaded).
  const statements = flags.statements !== undefined;
  const db = await startBenchDatabase(
    cleanup,
    statements ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {},
  );
  if (statements) await db.pool.query('create extension if not exists pg_stat_statements');
  // Where the replica lives (bench-state.ts): by default the embedded state server, as `run` does.
  const stateMode = stateModeOf(flags.state);
  const state = await openBenchState(cleanup, db, stateMode);
  const statePool = state.pool;
  const servers = { source: db.dataDir, state: state.dataDir };
  const batch = numFlag(flags, 'batch', 2000);
  // Held pushes keep the sync stage idle, so only ingest competes for the two CPUs.
  const held: (() => void)[] = [];
  const push: PushFn =
    pushMode === 'noop' ? async () => undefined : () => new Promise<void>((resolve) => held.push(resolve));
  cleanup.add('held pushes', () => held.splice(0).forEach((release) => release()));

  const setups = [];
  for (let i = 1; i <= rounds; i++) {
    const settings = benchSettings(db, null, {
      statusIntervalMs: 1000,
      batchMaxChanges: batch,
      slotName: `approval_cdc_r${i}`,
      stateSchema: `approval_cdc_r${i}`,
      ...state.overrides,
    });
    const mappings = await loadBenchMappings(settings);
    log(
      `round ${i}: first start on the empty schema (publication, slot, empty snapshot), and a slot for pg_recvlogical`,
    );
    const first = await startPipeline(cleanup, settings, mappings, push);
    await first.stop();
    const recvSlot = `${RECV_SLOT}_r${i}`;
    await db.pool.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [recvSlot]);
    setups.push({ settings, mappings, recvSlot });
  }

  log(`writing ${rows} row changes in transactions of about ${txRows} rows`);
  const w0 = Date.now();
  const workload = await bulkWorkload(db.pool, { rows, txRows, label: 'ingest workload' });
  const workloadSeconds = (Date.now() - w0) / 1000;
  const endLsn = await walInsertLsn(db.pool);
  if (statements) await db.pool.query('select pg_stat_statements_reset()');
  const { rows: walRows } = await db.pool.query<{ bytes: string }>(
    `select (pg_current_wal_insert_lsn() - confirmed_flush_lsn)::text as bytes from pg_replication_slots where slot_name = $1`,
    [`${RECV_SLOT}_r1`],
  );
  const walMB = round(Number(walRows[0]?.bytes ?? 0) / 2 ** 20, 1);
  log(
    `workload: ${workload.rows} row changes in ${workload.transactions} transactions, ${walMB} MB of WAL, end ${formatLsn(endLsn)}`,
  );

  const dir = await mkdtemp(join(tmpdir(), 'bench-recvlogical-'));
  cleanup.add('pg_recvlogical output', () => rm(dir, { recursive: true, force: true }));
  const results = [];
  for (const [i, { settings, mappings, recvSlot }] of setups.entries()) {
    const outFile = join(dir, `out-${i + 1}.bin`);
    log(`round ${i + 1}: pg_recvlogical catching up`);
    const r0 = Date.now();
    const recvSplit0 = cpuSnapshot(servers);
    const recvSampler = sampleCpu(servers);
    const recv = await runRecvlogical([
      '-d',
      db.url,
      '-S',
      recvSlot,
      '--start',
      '--no-loop',
      '-E',
      formatLsn(endLsn),
      '-f',
      outFile,
      '-o',
      'proto_version=1',
      '-o',
      `publication_names=${settings.publicationName}`,
    ]);
    const recvSeconds = (Date.now() - r0) / 1000;
    const recvSplit = cpuSplit(recvSplit0, recvSampler.stop());
    if (recv.code !== 0) throw new Error(`pg_recvlogical exited ${recv.code}: ${recv.stderr}`);
    const recvBytes = (await stat(outFile)).size;
    await rm(outFile, { force: true });
    await db.pool.query('select pg_drop_replication_slot($1)', [recvSlot]);
    log(
      `round ${i + 1}: pg_recvlogical ${recvSeconds.toFixed(2)} s, ${(recvBytes / 2 ** 20).toFixed(1)} MB written`,
    );

    log(`round ${i + 1}: connector catching up`);
    const c0 = Date.now();
    const cpu0 = process.cpuUsage();
    const split0 = cpuSnapshot(servers);
    const pipeline = await startPipeline(cleanup, settings, mappings, push);
    const c1 = await waitForCheckpoint(statePool, endLsn, {
      timeoutMs: 30 * 60_000,
      schema: settings.stateSchema,
      slot: settings.slotName,
    });
    const connectorSeconds = (c1 - c0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const split = cpuSplit(split0, cpuSnapshot(servers));
    const applied = await pipeline.metrics.changesApplied.get();
    held.splice(0).forEach((release) => release());
    await pipeline.stop();
    const { rows: replica } = await statePool.query<{ n: string }>(
      `select count(*)::text as n from "${settings.stateSchema}".row_image`,
    );
    log(
      `round ${i + 1}: connector ${connectorSeconds.toFixed(2)} s; CPU and run-queue seconds: ${JSON.stringify(split)}`,
    );
    results.push({
      pgRecvlogicalSeconds: round(recvSeconds, 2),
      connectorSeconds: round(connectorSeconds, 2),
      ratio: round(recvSeconds / connectorSeconds),
      // Node CPU of this process during the catch-up (1.0 per second = one core busy).
      connectorNodeCpuPerSecond: round((cpu.user + cpu.system) / 1e6 / connectorSeconds, 2),
      // CPU seconds per process role during the catch-up, and seconds each waited for a free core
      // (local server only): on two cores the connector, the walsender and the writing backend compete.
      cpuSplit: split,
      // The same during pg_recvlogical's catch-up (its own CPU as the waited child).
      pgRecvlogicalCpuSplit: recvSplit,
      changesApplied: applied.values.reduce((a, v) => a + v.value, 0),
      replicaRowImages: Number(replica[0]?.n ?? 0),
    });
  }

  const topStatements = statements ? await statementTimes(db.pool) : undefined;
  // Medians of the rounds (nearest rank: with an even --repeat, the lower middle round).
  const recvSeconds = percentile(
    results.map((r) => r.pgRecvlogicalSeconds),
    50,
  );
  const connectorSeconds = percentile(
    results.map((r) => r.connectorSeconds),
    50,
  );
  return {
    rows: workload.rows,
    transactions: workload.transactions,
    largestTransaction: workload.largestTransaction,
    walMB,
    workloadSeconds: round(workloadSeconds, 2),
    rounds,
    pgRecvlogicalRowsPerSec: Math.round(workload.rows / recvSeconds),
    connectorRowsPerSec: Math.round(workload.rows / connectorSeconds),
    ratio: percentile(
      results.map((r) => r.ratio),
      50,
    ),
    ratios: results.map((r) => r.ratio),
    target: '>= 0.8 (median of the rounds)',
    runs: results,
    push: pushMode,
    state: stateMode,
    batch,
    ...(topStatements ? { topStatements } : {}),
    server: db.server,
  };
};

/** The ten statements of the server that took the most time, with calls and milliseconds. */
async function statementTimes(pool: pg.Pool): Promise<{ ms: number; calls: number; query: string }[]> {
  const { rows } = await pool.query<{ ms: number; calls: string; query: string }>(
    `select round(total_exec_time)::float8 as ms, calls::text, left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 160) as query
     from pg_stat_statements order by total_exec_time desc limit 10`,
  );
  return rows.map((r) => ({ ms: r.ms, calls: Number(r.calls), query: r.query }));
}
