// CPU seconds used by this process and by the local Postgres server's processes (read from /proc), so
// a benchmark can say where the time of a phase went: the connector's Node process, the walsender,
// the backends writing the replica. Linux only; elsewhere (or for a remote server) it reports nothing.
import { readdirSync, readFileSync } from 'node:fs';

export type CpuSnapshot = Map<string, { role: string; seconds: number; wait: number }>;

const TICKS = 100; // USER_HZ on Linux

function processRole(pid: string): string | null {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    if (Number(pid) === process.pid) return 'connector (node)';
    if (!cmd.startsWith('postgres')) return null;
    if (/walsender/.test(cmd)) return 'postgres walsender';
    if (/checkpointer|background writer|walwriter|autovacuum|logical replication launcher|stats/.test(cmd))
      return 'postgres background';
    if (/^postgres: /.test(cmd)) return 'postgres backends';
    return 'postgres background';
  } catch {
    return null;
  }
}

export function cpuSnapshot(): CpuSnapshot {
  const snap: CpuSnapshot = new Map();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return snap;
  }
  for (const pid of pids) {
    const role = processRole(pid);
    if (!role) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
      const sched = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ');
      snap.set(pid, { role, seconds, wait: Number(sched[1]) / 1e9 });
    } catch {
      // the process ended meanwhile
    }
  }
  return snap;
}

/** CPU seconds per role between two snapshots (processes born meanwhile count from zero). */
export function cpuSplit(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [pid, { role, seconds, wait }] of after) {
    const used = seconds - (before.get(pid)?.seconds ?? 0);
    out[role] = Math.round(((out[role] ?? 0) + used) * 100) / 100;
    const waited = wait - (before.get(pid)?.wait ?? 0);
    out[`${role} runqueue wait`] = Math.round(((out[`${role} runqueue wait`] ?? 0) + waited) * 100) / 100;
  }
  return out;
}
