// Shared plumbing of every benchmark: flag parsing, progress on stderr, the machine description that
// goes into each JSON line, percentiles, RSS sampling from /proc, and a cleanup stack run on exit or
// Ctrl-C. Measures nothing itself.
import { readFileSync } from 'node:fs';
import os from 'node:os';

export type Flags = Readonly<Record<string, string>>;

/** `--name value` and `--name=value` pairs; a bare `--name` is "true". */
export function parseFlags(argv: readonly string[]): Flags {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) {
      out[arg.slice(2, eq)] = arg.slice(eq + 1);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[arg.slice(2)] = next;
      i++;
    } else {
      out[arg.slice(2)] = 'true';
    }
  }
  return out;
}

export function numFlag(flags: Flags, name: string, fallback: number): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemMB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    // At the end of the run: on a shared machine the figures mean little without it.
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const round = (n: number, digits = 3): number => Number(n.toFixed(digits));

/** Nearest-rank percentile of unsorted values (0 < p <= 100); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function summarize(seconds: readonly number[]): { n: number; p50: number; p99: number; max: number } {
  return {
    n: seconds.length,
    p50: round(percentile(seconds, 50)),
    p99: round(percentile(seconds, 99)),
    max: round(seconds.length === 0 ? Number.NaN : Math.max(...seconds)),
  };
}

/** VmRSS and VmHWM (peak) of a process in MB, from /proc/<pid>/status; null once it is gone. */
export function readRss(pid: number | 'self'): { rssMB: number; hwmMB: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 'NaN');
  return { rssMB: round(kb('VmRSS') / 1024, 1), hwmMB: round(kb('VmHWM') / 1024, 1) };
}

/** Samples a process's RSS at an interval and keeps the peak (VmHWM when the kernel reports it). */
export class RssSampler {
  peakMB = 0;
  samples = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pid: number | 'self',
    private readonly intervalMs = 200,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  sample(): void {
    const r = readRss(this.pid);
    if (!r) return;
    this.samples++;
    this.peakMB = Math.max(this.peakMB, r.rssMB, Number.isFinite(r.hwmMB) ? r.hwmMB : 0);
  }

  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    return this.peakMB;
  }
}

/** Last-in-first-out cleanup actions; each runs once, failures are reported and do not stop the rest. */
export class Cleanup {
  private readonly actions: { what: string; fn: () => unknown }[] = [];

  add(what: string, fn: () => unknown): void {
    this.actions.push({ what, fn });
  }

  async run(): Promise<void> {
    for (let action = this.actions.pop(); action; action = this.actions.pop()) {
      try {
        await action.fn();
      } catch (error) {
        log(`cleanup of ${action.what} failed: ${String(error)}`);
      }
    }
  }
}
