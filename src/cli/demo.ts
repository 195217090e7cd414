// `approval-cdc demo [--seconds N] [--rate TX_PER_SEC]`: the whole data path on one machine with
// nothing to set up (src/demo/demo-session.ts). Parses the flags, turns SIGINT/SIGTERM/SIGHUP into a
// clean stop, and exits 0 when the demo ran and cleaned up, 1 when it failed, 2 on bad flags.
// Invariant: a signal never exits the process before the demo removed what it created.
import { runDemo } from '../demo/demo-session.js';
import type { GlobalFlags } from './context.js';

export interface DemoFlags extends GlobalFlags {
  seconds?: string;
  rate?: string;
}

export async function demoCommand(flags: DemoFlags): Promise<number> {
  const seconds = flags.seconds === undefined ? undefined : Number(flags.seconds);
  const rate = flags.rate === undefined ? 5 : Number(flags.rate);
  if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0)) {
    process.stderr.write(`demo: --seconds must be a positive number, got ${flags.seconds}\n`);
    return 2;
  }
  if (!(Number.isFinite(rate) && rate > 0 && rate <= 1000)) {
    process.stderr.write(
      `demo: --rate must be a number of transactions per second in (0, 1000], got ${flags.rate}\n`,
    );
    return 2;
  }

  const stop = new AbortController();
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      process.stderr.write(`demo: ${signal} again; still removing the throwaway Postgres, please wait\n`);
      return;
    }
    stop.abort();
  };
  for (const s of signals) process.on(s, onSignal);
  try {
    const summary = await runDemo({
      ...(seconds === undefined ? {} : { seconds }),
      rate,
      ...(flags.logLevel ? { logLevel: flags.logLevel } : {}),
      tty: process.stdout.isTTY === true,
      out: process.stdout,
      signal: stop.signal,
    });
    return summary.demo === 'done' ? 0 : 1;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
