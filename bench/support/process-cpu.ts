// CPU seconds used by this process, by the children it waited for (pg_recvlogical) and by the
// processes of the local Postgres servers a benchmark names (read from /proc), so a benchmark can say
// where the time of a phase went: the connector's Node process, the source's walsender and backends,
// the state server's backends. Only processes of the named servers count (a postmaster found by its
// data directory, and its children): other Postgres servers on a shared machine are not ours. Linux
// only; elsewhere (or for a remote server) it reports nothing.
import { readdirSync, readFileSync } from 'node:fs';

export type CpuSnapshot = Map<string, { role: string; seconds: number; wait: number }>;

/** Servers to account for: a label ('source', 'state') and the data directory of its postmaster. */
export type CpuServers = Readonly<Record<string, string | undefined>>;

const TICKS = 100; // USER_HZ on Linux

interface Proc {
  cmd: string;
  ppid: string;
  fields: string[];
}

function readProc(pid: string): Proc | null {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { cmd, ppid: fields[1] ?? '', fields };
  } catch {
    return null;
  }
}

function kindOf(cmd: string): string {
  if (/walsender/.test(cmd)) return 'walsender';
  // Background processes by what they do: where a write-heavy phase's "background" time goes
  // (autovacuum after bulk inserts, the checkpointer's full-page writes, the WAL writer).
  const background = /checkpointer|background writer|walwriter|autovacuum|logical replication|stats/.exec(
    cmd,
  );
  if (background) return `background (${background[0]})`;
  if (/postgres -D|bin\/postgres/.test(cmd)) return 'background (postmaster)';
  return 'backends';
}

/**
 * Per process of the connector (this one, or the child `connectorPid`) and of the named servers: its
 * role, CPU seconds and run-queue seconds.
 */
export function cpuSnapshot(servers: CpuServers = {}, connectorPid = process.pid): CpuSnapshot {
  const snap: CpuSnapshot = new Map();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return snap;
  }
  const procs = new Map<string, Proc>();
  for (const pid of pids) {
    const p = readProc(pid);
    if (p) procs.set(pid, p);
  }
  // A postmaster is named by its -D argument (the throwaway server and pg_ctl both pass it).
  const postmasters = new Map<string, string>();
  for (const [pid, p] of procs) {
    for (const [label, dir] of Object.entries(servers)) {
      if (dir && p.cmd.includes(' -D ') && p.cmd.includes(dir) && !p.cmd.startsWith('postgres:'))
        postmasters.set(pid, label);
    }
  }
  for (const [pid, p] of procs) {
    let role: string | null = null;
    if (Number(pid) === connectorPid) role = 'connector (node)';
    else if (postmasters.has(pid)) role = `${postmasters.get(pid)} background`;
    else if (postmasters.has(p.ppid)) role = `${postmasters.get(p.ppid)} ${kindOf(p.cmd)}`;
    if (!role) continue;
    const seconds = (Number(p.fields[11]) + Number(p.fields[12])) / TICKS;
    let wait = 0;
    try {
      wait = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
    } catch {
      // the process ended meanwhile
    }
    snap.set(pid, { role, seconds, wait });
    // Children the connector waited for, counted as one role: pg_recvlogical when the connector is
    // this process, the embedded state server's initdb and pg_ctl when it is a child.
    if (role === 'connector (node)')
      snap.set('children', {
        role:
          connectorPid === process.pid
            ? 'waited children (pg_recvlogical)'
            : "connector's waited children (initdb, pg_ctl)",
        seconds: (Number(p.fields[13]) + Number(p.fields[14])) / TICKS,
        wait: 0,
      });
  }
  return snap;
}

/** CPU seconds per role between two snapshots (processes born meanwhile count from zero). */
export function cpuSplit(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [pid, { role, seconds, wait }] of after) {
    const used = seconds - (before.get(pid)?.seconds ?? 0);
    if (used <= 0 && pid === 'children') continue;
    out[role] = Math.round(((out[role] ?? 0) + used) * 100) / 100;
    if (pid === 'children') continue;
    const waited = wait - (before.get(pid)?.wait ?? 0);
    out[`${role} runqueue wait`] = Math.round(((out[`${role} runqueue wait`] ?? 0) + waited) * 100) / 100;
  }
  return out;
}

/**
 * Snapshots every `everyMs` until stop(), keeping each process's last sample: a process that ends
 * during the phase (pg_recvlogical's walsender) still counts, up to its last sample.
 */
export function sampleCpu(
  servers: CpuServers,
  everyMs = 200,
  connectorPid = process.pid,
): { stop(): CpuSnapshot } {
  const merged: CpuSnapshot = new Map();
  const take = () => {
    // A process keeps the role it was first seen with (a dying walsender's cmdline reads empty).
    for (const [pid, v] of cpuSnapshot(servers, connectorPid))
      merged.set(pid, { ...v, role: merged.get(pid)?.role ?? v.role });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return merged;
    },
  };
}
