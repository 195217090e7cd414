// Runs `approval-cdc run` as a child process, like an operator's supervisor would: restarted after a
// short delay when it exits by itself (a lost lock or an unreachable database at start-up end the
// process with exit code 1 by design), killable with any signal, with its log lines kept for the
// checks and its resident memory sampled from /proc/<pid>/status.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

const BIN = new URL('../../../bin/approval-cdc.js', import.meta.url).pathname;

export interface ConnectorProcessOptions {
  env: NodeJS.ProcessEnv;
  /** Restart the process when it exits by itself (default true), after this many ms. */
  supervise?: boolean;
  restartDelayMs?: number;
  /** Sample the child's RSS at this interval (0 = off). */
  rssSampleMs?: number;
  /** Echo the child's output (FAULT_VERBOSE=1). */
  echo?: boolean;
}

export interface ConnectorProcess {
  readonly pid: number | undefined;
  /** Processes started, including the first. */
  readonly starts: number;
  /** Exits the suite did not cause, with their exit code or signal. */
  readonly selfExits: string[];
  readonly kills: number;
  /** Highest RSS seen, in kB (0 when not sampled). */
  readonly peakRssKb: number;
  start(): void;
  /** Sends `signal` and waits for the exit; the process is not restarted. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM (graceful stop) and no more restarts. */
  stop(): Promise<void>;
  /** Log lines (stdout and stderr) matching `pattern`. */
  grep(pattern: RegExp): string[];
  /** The last lines of output, for failure messages. */
  tail(lines?: number): string;
}

const MAX_LINES = 20_000;

export function startConnectorProcess(options: ConnectorProcessOptions): ConnectorProcess {
  const supervise = options.supervise ?? true;
  const restartDelayMs = options.restartDelayMs ?? 1000;
  const echo = options.echo ?? process.env.FAULT_VERBOSE === '1';
  const lines: string[] = [];
  let child: ChildProcess | null = null;
  let expectingExit = false;
  let stopped = false;
  let restartTimer: NodeJS.Timeout | null = null;
  let rssTimer: NodeJS.Timeout | null = null;

  const capture = (chunk: Buffer, partial: { text: string }) => {
    partial.text += chunk.toString('utf8');
    const parts = partial.text.split('\n');
    partial.text = parts.pop() ?? '';
    for (const line of parts) {
      if (echo) process.stderr.write(`[connector] ${line}\n`);
      lines.push(line);
    }
    if (lines.length > MAX_LINES) lines.splice(0, lines.length - MAX_LINES);
  };

  const sampleRss = () => {
    const pid = child?.pid;
    if (!pid) return;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0);
      if (kb > proc.peakRssKb) (proc as { peakRssKb: number }).peakRssKb = kb;
    } catch {
      // the process is between exit and restart
    }
  };

  const proc: ConnectorProcess = {
    get pid() {
      return child?.pid;
    },
    starts: 0,
    selfExits: [],
    kills: 0,
    peakRssKb: 0,
    start() {
      if (stopped) return;
      expectingExit = false;
      (proc as { starts: number }).starts++;
      const c = spawn(process.execPath, [BIN, 'run'], {
        env: options.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      const out = { text: '' };
      const err = { text: '' };
      c.stdout?.on('data', (chunk: Buffer) => capture(chunk, out));
      c.stderr?.on('data', (chunk: Buffer) => capture(chunk, err));
      c.on('exit', (code, signal) => {
        if (child === c) child = null;
        if (expectingExit || stopped) return;
        proc.selfExits.push(signal ?? `exit ${code}`);
        if (supervise) restartTimer = setTimeout(() => proc.start(), restartDelayMs);
      });
    },
    async kill(signal) {
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = null;
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      expectingExit = true;
      (proc as { kills: number }).kills++;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill(signal);
      await exited;
    },
    async stop() {
      stopped = true;
      if (rssTimer) clearInterval(rssTimer);
      rssTimer = null;
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = null;
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
    grep(pattern) {
      return lines.filter((l) => pattern.test(l));
    },
    tail(n = 30) {
      return lines.slice(-n).join('\n');
    },
  };
  if (options.rssSampleMs) rssTimer = setInterval(sampleRss, options.rssSampleMs);
  proc.start();
  return proc;
}
