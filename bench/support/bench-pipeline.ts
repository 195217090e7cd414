// Runs the connector for a benchmark: the real Pipeline in-process (settings through loadSettings with
// overrides, as the e2e fixture does) or as a child process configured by environment variables,
// launched the way the image launches it (compiled dist/, the Dockerfile's ENTRYPOINT with its node
// flags, then `run`); the fake Feishu; and the matching of tracked commits with the fake's accepted
// pushes (commit-to-acceptance seconds). Measures nothing itself.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import {
  startFakeFeishu,
  type FakeFeishu,
  type FakeFeishuOptions,
  type PushRecord,
} from '../../src/feishu/fake/fake-feishu.js';
import type { MappingSet } from '../../src/mapping/contract.js';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { createLogger } from '../../src/core/logger.js';
import { Pipeline, type PipelineOptions } from '../../src/pipeline.js';
import type { PushFn } from '../../src/sync/sync-scheduler.js';
import { LEGACY_MAPPINGS_PATH, type BenchDatabase } from './bench-db.js';
import { log, sleep, type Cleanup } from './bench-env.js';
import type { TrackedChange } from './bulk-workload.js';

export const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';

export async function startFake(cleanup: Cleanup, options: FakeFeishuOptions = {}): Promise<FakeFeishu> {
  const fake = await startFakeFeishu({ approvalCodes: '*', ...options });
  cleanup.add('fake Feishu', () => fake.close());
  return fake;
}

/**
 * Settings of an in-process benchmark connector; `overrides` win. The state stays in the bench
 * database (an explicit APPROVAL_CDC_STATE_URL, as before the embedded store), so the benches that
 * poll the checkpoint read it there; `initial-load` measures the default, embedded store.
 */
export function benchSettings(
  db: BenchDatabase,
  fake: FakeFeishu | null,
  overrides: Record<string, unknown> = {},
): Settings {
  return loadSettings({
    overrides: {
      sourceUrl: db.url,
      stateUrl: db.url,
      mappings: LEGACY_MAPPINGS_PATH,
      metricsAddress: 'off',
      logLevel: LOG_LEVEL,
      ...(fake ? { feishuBaseUrl: fake.url, feishuAppId: fake.appId, feishuAppSecret: fake.appSecret } : {}),
      ...overrides,
    },
  });
}

export function loadBenchMappings(settings: Settings): Promise<MappingSet> {
  return Promise.resolve(loadMappings(settings.mappings));
}

/** Starts a Pipeline in-process (resolves after the initial load, once streaming starts); stopped by cleanup. */
export async function startPipeline(
  cleanup: Cleanup,
  settings: Settings,
  mappings: MappingSet,
  push?: PushFn,
  extra: Partial<Pick<PipelineOptions, 'onBatchApplied'>> = {},
): Promise<Pipeline> {
  const pipeline = new Pipeline({
    settings,
    mappings,
    logger: createLogger(settings.logLevel),
    ...(push ? { push } : {}),
    ...extra,
  });
  cleanup.add('pipeline', () => pipeline.stop());
  pipeline.done.catch((e: unknown) => log(`pipeline failed: ${String(e)}`));
  await pipeline.start();
  return pipeline;
}

export interface ChildConnector {
  child: ChildProcess;
  pid: number;
  /** The last lines the child wrote to stderr (its JSON logs). */
  tail(): string[];
  stop(): Promise<number | null>;
}

/**
 * The image's launch command without `node` (its node flags and the launcher, relative to the
 * repository root), from the Dockerfile's exec-form ENTRYPOINT: a bench measures the process
 * production runs, flags included.
 */
export function imageEntrypoint(): string[] {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  const argv: unknown = line ? JSON.parse(line) : null;
  const words = Array.isArray(argv) ? argv.filter((a): a is string => typeof a === 'string') : [];
  if (words[0] !== 'node' || words.length !== (argv as unknown[]).length)
    throw new Error('Dockerfile: no ENTRYPOINT ["node", ...] found');
  return words.slice(1);
}

/** A description of how spawnConnector launches the connector, for the figures. */
export function connectorLaunch(): string {
  return `compiled dist/ (npm run build), as the image's ENTRYPOINT: node ${imageEntrypoint().join(' ')} run`;
}

/**
 * `node <the image's flags> bin/approval-cdc.js run` with APPROVAL_CDC_* variables, after building
 * dist/ so that the launcher runs the compiled code (as the image does) and not the sources through
 * tsx (about 40 MB more); its logs are kept, not printed.
 */
export function spawnConnector(cleanup: Cleanup, env: Record<string, string>): ChildConnector {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  log('building dist/ (npm run build): the connector runs compiled, as in the image');
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
  const child = spawn(process.execPath, [...imageEntrypoint(), 'run'], {
    cwd: root,
    // CONNECTOR_NODE_OPTIONS sets the child's V8 options (e.g. a heap cap) without touching the bench's own.
    env: {
      ...process.env,
      ...env,
      ...(process.env.CONNECTOR_NODE_OPTIONS ? { NODE_OPTIONS: process.env.CONNECTOR_NODE_OPTIONS } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('cannot spawn the connector');
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(line.slice(0, 500));
    if (lines.length > 50) lines.splice(0, lines.length - 50);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return child.exitCode;
  };
  cleanup.add('connector child process', stop);
  return { child, pid: child.pid, tail: () => [...lines], stop };
}

export interface Acceptance {
  seconds: number[];
  /** The matched changes with their seconds, in the order of `seconds`. */
  matched: { change: TrackedChange; seconds: number }[];
  unmatched: TrackedChange[];
}

/**
 * For each tracked change, the first accepted push of its instance whose update_time is at least the
 * change's (so the pushed payload carries that state or a later one), and the seconds from commit to
 * that push's arrival at the fake (both clocks are this process's Date.now()).
 */
export function matchAcceptances(
  changes: readonly TrackedChange[],
  pushes: readonly PushRecord[],
): Acceptance {
  const byInstance = new Map<string, PushRecord[]>();
  for (const p of pushes) {
    if (!p.accepted || !p.instance_id) continue;
    const list = byInstance.get(p.instance_id) ?? [];
    list.push(p);
    byInstance.set(p.instance_id, list);
  }
  const matched: Acceptance['matched'] = [];
  const unmatched: TrackedChange[] = [];
  for (const c of changes) {
    const hit = (byInstance.get(c.instanceId) ?? []).find(
      (p) => p.update_time !== undefined && BigInt(p.update_time) >= c.expectedUpdateTime,
    );
    if (hit) matched.push({ change: c, seconds: Math.max(0, (hit.at - c.committedAt) / 1000) });
    else unmatched.push(c);
  }
  return { seconds: matched.map((m) => m.seconds), matched, unmatched };
}

/** Waits until every tracked change is matched (or the timeout passes). */
export async function waitForAcceptances(
  fake: FakeFeishu,
  changes: readonly TrackedChange[],
  timeoutMs: number,
): Promise<Acceptance> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = matchAcceptances(changes, fake.pushes());
    if (result.unmatched.length === 0 || Date.now() > deadline) return result;
    await sleep(250);
  }
}

/** The payloads Feishu should hold now: the e2e fixture's oracle. */
export { expectedInstancesOf as expectedInstances } from '../../test/support/expected-instances.js';
