// Benchmark dispatcher: `npm run bench -- <name> [--flag value]` runs bench/<name>.ts, which returns
// its figures; this prints them as ONE JSON line, last on stdout, with the machine and the date.
// Progress goes to stderr. Cleanup (connector, fake Feishu, databases, Postgres) runs on success,
// failure and Ctrl-C alike. Without a known name it lists the benchmarks and exits 2.
import { Cleanup, log, machine, parseFlags, type Flags } from './support/bench-env.js';

export type BenchFn = (flags: Flags, cleanup: Cleanup) => Promise<Record<string, unknown>>;

const BENCHES: Record<string, { about: string; load: () => Promise<{ run: BenchFn }> }> = {
  ingest: {
    about: 'pg_recvlogical vs the connector catching up on the same WAL (--rows 300000)',
    load: () => import('./ingest.js'),
  },
  'copy-floor': {
    about:
      'the least a copy can cost: legacy COPY of the same rows as images straight into state COPY, with and without the key index, beside pg_dump (--rows 1000000)',
    load: () => import('./copy-floor.js'),
  },
  latency: {
    about: 'commit-to-acceptance p50/p99/max, steady 20 tx/s, Feishu unthrottled (--seconds 60 --tps 20)',
    load: () => import('./latency.js'),
  },
  memory: {
    about: 'peak RSS of `approval-cdc run` with a 1M-change backlog, Feishu down (--changes 1000000)',
    load: () => import('./memory.js'),
  },
  coalescing: {
    about:
      'pushes per instance for 100 updates x 50 instances in 10 s at real limits (--instances 50 --updates 100)',
    load: () => import('./coalescing.js'),
  },
  'budget-efficiency': {
    about:
      'pushes per real change amid no-op rewrites and unmapped edits, identical re-pushes (--instances 500 --rounds 5 --real 40)',
    load: () => import('./budget-efficiency.js'),
  },
  'sync-budget': {
    about:
      'budget use and 429s with a 5000-instance backfill and a 20,000-instance bulk transaction at 50/s, 1000/min, plus live changes (--minutes 3 --bulk 20000)',
    load: () => import('./sync-budget.js'),
  },
  stop: {
    about:
      'seconds from SIGTERM to exit: idle, pushes in flight, during a reconcile pass, during a backfill (--requests 1000)',
    load: () => import('./stop.js'),
  },
  'initial-load': {
    about:
      'snapshot copy rows/s, peak RSS, live latency during the backfill (--rows 1000000 --live-seconds 60)',
    load: () => import('./initial-load.js'),
  },
};

function usage(): string {
  const names = Object.entries(BENCHES).map(([name, b]) => `  ${name.padEnd(13)} ${b.about}`);
  return `usage: npm run bench -- <name> [--flag value]\nbenchmarks:\n${names.join('\n')}\nenv: BENCH_DATABASE_URL (use that server instead of a throwaway Postgres), BENCH_LOG_LEVEL (connector logs, default warn)\n`;
}

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2);
  const bench = name ? BENCHES[name] : undefined;
  if (!name || !bench) {
    if (name) process.stderr.write(`unknown benchmark: ${name}\n`);
    process.stderr.write(usage());
    return 2;
  }
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (signal: string) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${signal}: cleaning up`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const flags = parseFlags(rest);
  const started = new Date();
  try {
    const { run } = await bench.load();
    const figures = await run(flags, cleanup);
    log('cleaning up');
    await cleanup.run();
    const line = JSON.stringify({ bench: name, ...figures, machine: machine(), date: started.toISOString() });
    await new Promise<void>((resolve) => process.stdout.write(`${line}\n`, () => resolve()));
    return 0;
  } catch (error) {
    log(`${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await cleanup.run();
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
