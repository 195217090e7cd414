// Gathers what `approval-cdc status` shows: the checkpoint and the sync backlog from the state
// database, the slot's position and retained WAL from the source. Invariant: read-only, and it never
// depends on a running daemon; a section that cannot be read is reported as unavailable with the
// reason instead of failing the whole report (status is what people run when something is wrong).
import { sql, type Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import type pg from 'pg';
import { describeError } from '../errors.js';
import { tableProgress, type TableProgressReport } from '../observe/copy-progress.js';
import { backfillProgress, type BackfillProgressReport } from '../observe/backfill-progress.js';
import { CheckpointStore } from '../replica/checkpoint-store.js';
import { formatLsn, type Lsn } from '../core/lsn.js';
import { readSlot } from '../source/slot-admin.js';
import { BulkSpool } from '../replica/bulk-spool.js';
import { InstanceViews } from '../replica/instance-views.js';
import { readParkedChanges } from '../replica/change-parking.js';
import { StreamFaultStore } from '../replica/stream-fault-store.js';
import { LANE_NAMES, laneName, type LaneName } from '../replica/instance-vocabulary.js';
import { monthKey, projectedCalls, readCalls } from '../sync/monthly-calls.js';
import { PushGateStore } from '../sync/push-gate-store.js';
import { ConnectorRunStore } from '../replica/connector-run.js';
import { PushHistory, type PushCount } from '../sync/push-history.js';

export type { LaneName };

export interface LaneBacklog {
  lane: LaneName;
  count: number;
  oldestPendingSeconds: number | null;
}

export interface InstanceProblem {
  externalId: string;
  mapping: string;
  code: string | null;
  message: string;
  attempts: number;
  /** When it was parked (parked instances) or when it is tried next (retrying ones). */
  at: string | null;
}

export interface RecentPush {
  at: string;
  externalId: string;
  result: string;
  code: string;
  message: string | null;
}

export interface CheckpointStatus {
  lsn: string;
  phase: 'creating' | 'snapshot' | 'streaming';
  lastCommitAt: string | null;
  updatedAt: string;
  /** Per table of the initial copy: rows done against the estimate, rate and time left. */
  snapshot: (TableProgressReport & { done: boolean })[];
}

export interface SlotStatus {
  plugin: string | null;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: string | null;
  restartLsn: string | null;
  /** WAL bytes between the server's current position and confirmed_flush_lsn. */
  lagBytes: number | null;
  /** WAL bytes the slot keeps on the server's disk (current position - restart_lsn). */
  retainedWalBytes: number | null;
  walStatus: string | null;
  /** Bytes that can still be written before the slot is lost; null = unlimited. */
  safeWalSizeBytes: number | null;
}

/** The active connector's run: when it started, whether it stopped, and its last fatal error. */
export interface ConnectorRunStatus {
  pid: number;
  startedAt: string;
  stoppedAt: string | null;
  lastFailure: { at: string; code: string | null; message: string } | null;
}

export interface StatusReport {
  at: string;
  slotName: string;
  /** null before the first start of a connector that records its runs. */
  connector: ConnectorRunStatus | null;
  checkpoint: CheckpointStatus | null;
  /** now - commit time of the newest source transaction applied to the replica. */
  lagSeconds: number | null;
  backlog: LaneBacklog[];
  oldestPendingSeconds: number | null;
  /** Batches of data fixes set aside in the bulk spool, not yet in the replica (bulk-spool.ts). */
  bulkSpool: { batches: number; oldestSeconds: number | null };
  /**
   * The bulk and backfill lanes: instances left, the rate they left at over `windowSeconds` (from the
   * push history) and the time left (null before the push history exists).
   */
  backfill: (BackfillProgressReport & { windowSeconds: number; budgetPerMinute: number }) | null;
  /** Whether the daemon may push (null: never recorded, e.g. before the first start). */
  pushing: {
    state: 'running' | 'stopped';
    reason: string | null;
    code: string | null;
    since: string | null;
    nextProbeAt: string | null;
    updatedAt: string;
  } | null;
  /** Counted Feishu calls this calendar month (China time), the optional budget and the projection. */
  feishuCalls: { month: string; used: number; budget: number | null; projected: number } | null;
  /** Instances waiting for a retry after a failed push (not parked). */
  retrying: number;
  parked: { count: number; recent: InstanceProblem[] };
  /** Source changes the replica could not store for their values (recorded, their instances parked). */
  parkedChanges: { count: number; recent: { lsn: string; table: string; error: string; at: string }[] };
  /** The replication stream failing again and again at one position (null: it moves). */
  streamFault: {
    position: string;
    tables: string[];
    error: string;
    failures: number;
    since: string;
    updatedAt: string;
  } | null;
  /** The latest errors of instances still being retried; parked ones are under `parked`. */
  lastErrors: InstanceProblem[];
  /** From the push history: results of the last hour by result and code, and the latest pushes. */
  pushes: { lastHour: PushCount[]; recent: RecentPush[] };
  /** null when the source was reachable and has no such slot, or when the source is unavailable. */
  slot: SlotStatus | null;
  unavailable: { state?: string; source?: string };
}

export interface StatusInputs {
  /** The state database, or the reason it cannot be opened (e.g. no embedded store yet). */
  state: { db: Kysely<StateDb>; schema: string } | { error: string };
  /** A connected client of the source database, or the reason there is none. */
  source: pg.ClientBase | { error: string };
  slot: string;
  now?: Date;
  /** The monthly call budget setting (0 = none), shown next to the calls used. */
  monthlyCallBudget?: number;
  /** The per-minute rate budget setting: the backfill's ETA before anything left its lanes. */
  ratePerMinute?: number;
  /** How many parked instances and errors to list (default 5). */
  recent?: number;
}

const seconds = (now: Date, then: Date | null) =>
  then ? Math.max(0, (now.getTime() - then.getTime()) / 1000) : null;
const num = (v: bigint | null) => (v === null ? null : Number(v));
const lsnText = (v: Lsn | null) => (v === null ? null : formatLsn(v));
const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);

export async function gatherStatus(inputs: StatusInputs): Promise<StatusReport> {
  const now = inputs.now ?? new Date();
  const report: StatusReport = {
    at: now.toISOString(),
    slotName: inputs.slot,
    connector: null,
    checkpoint: null,
    lagSeconds: null,
    backlog: [...LANE_NAMES.map((lane) => ({ lane, count: 0, oldestPendingSeconds: null }))],
    oldestPendingSeconds: null,
    bulkSpool: { batches: 0, oldestSeconds: null },
    backfill: null,
    pushing: null,
    feishuCalls: null,
    retrying: 0,
    parked: { count: 0, recent: [] },
    parkedChanges: { count: 0, recent: [] },
    streamFault: null,
    lastErrors: [],
    pushes: { lastHour: [], recent: [] },
    slot: null,
    unavailable: {},
  };
  const state = inputs.state;
  if ('error' in state) {
    report.unavailable.state = state.error;
  } else {
    try {
      await readState(state, inputs, now, report);
    } catch (error) {
      report.unavailable.state = describeError(error);
    }
  }
  if ('error' in inputs.source) {
    report.unavailable.source = inputs.source.error;
  } else {
    try {
      const slot = await readSlot(inputs.source, inputs.slot);
      report.slot = slot && {
        plugin: slot.plugin,
        active: slot.active,
        activePid: slot.activePid,
        confirmedFlushLsn: lsnText(slot.confirmedFlushLsn),
        restartLsn: lsnText(slot.restartLsn),
        lagBytes: num(slot.lagBytes),
        retainedWalBytes: num(slot.retainedBytes),
        walStatus: slot.walStatus,
        safeWalSizeBytes: num(slot.safeWalSize),
      };
    } catch (error) {
      report.unavailable.source = describeError(error);
    }
  }
  return report;
}

async function readState(
  { db, schema }: { db: Kysely<StateDb>; schema: string },
  inputs: StatusInputs,
  now: Date,
  report: StatusReport,
): Promise<void> {
  const limit = inputs.recent ?? 5;
  const exists = await sql<{
    t: string | null;
  }>`select to_regclass(${`"${schema}".checkpoint`})::text as t`.execute(db);
  if (!exists.rows[0]?.t) {
    report.unavailable.state = `the state schema "${schema}" is not set up (run \`approval-cdc setup\`)`;
    return;
  }
  const cp = await new CheckpointStore(db, schema).read(inputs.slot);
  if (cp) {
    report.checkpoint = {
      lsn: formatLsn(cp.lsn),
      phase: cp.phase,
      lastCommitAt: cp.lastCommitAt?.toISOString() ?? null,
      updatedAt: cp.updatedAt.toISOString(),
      snapshot: Object.entries(cp.progress).map(([table, p]) => ({
        ...tableProgress(table, p, now.getTime()),
        done: p.done,
      })),
    };
    report.lagSeconds = seconds(now, cp.lastCommitAt);
  }

  const runTable = await sql<{
    t: string | null;
  }>`select to_regclass(${`"${schema}".connector_run`})::text as t`.execute(db);
  const run = runTable.rows[0]?.t ? await new ConnectorRunStore(db, schema, inputs.slot).read() : null;
  if (run) {
    report.connector = {
      pid: run.pid,
      startedAt: run.startedAt.toISOString(),
      stoppedAt: run.stoppedAt?.toISOString() ?? null,
      lastFailure: run.failedAt
        ? { at: run.failedAt.toISOString(), code: run.failureCode, message: run.failureMessage ?? '' }
        : null,
    };
  }

  const gateTable = await sql<{
    t: string | null;
  }>`select to_regclass(${`"${schema}".push_gate`})::text as t`.execute(db);
  const gate = gateTable.rows[0]?.t ? await new PushGateStore(db, schema, inputs.slot).read() : null;
  if (gate) {
    report.pushing = {
      state: gate.state,
      reason: gate.reason,
      code: gate.code,
      since: gate.since?.toISOString() ?? null,
      nextProbeAt: gate.nextProbeAt?.toISOString() ?? null,
      updatedAt: gate.updatedAt.toISOString(),
    };
  }

  const callsTable = await sql<{
    t: string | null;
  }>`select to_regclass(${`"${schema}".feishu_calls`})::text as t`.execute(db);
  if (callsTable.rows[0]?.t) {
    const month = monthKey(now.getTime());
    const used = await readCalls(db, schema, month);
    report.feishuCalls = {
      month,
      used,
      budget: inputs.monthlyCallBudget ? inputs.monthlyCallBudget : null,
      projected: projectedCalls(used, now.getTime()),
    };
  }

  let oldest: Date | null = null;
  const instances = new InstanceViews(db, schema);
  for (const lane of await instances.backlog()) {
    const entry = report.backlog.find((b) => b.lane === laneName(lane.lane));
    if (!entry) continue;
    entry.count += lane.count;
    entry.oldestPendingSeconds = Math.max(entry.oldestPendingSeconds ?? 0, seconds(now, lane.oldest) ?? 0);
    if (lane.oldest && (!oldest || lane.oldest < oldest)) oldest = lane.oldest;
  }
  report.oldestPendingSeconds = seconds(now, oldest);
  const spooled = await new BulkSpool(schema, inputs.slot).backlog(db);
  report.bulkSpool = { batches: spooled.batches, oldestSeconds: seconds(now, spooled.oldest) };

  const counts = await instances.problemCounts();
  report.parked.count = counts.parked;
  report.retrying = counts.retrying;
  report.parked.recent = (await instances.recentlyParked(limit)).map((r) => ({
    ...r,
    message: r.message ?? '',
    at: iso(r.at),
  }));
  report.lastErrors = (await instances.recentErrors(limit)).map((r) => ({
    ...r,
    message: r.message ?? '',
    at: iso(r.at),
  }));

  // A state schema from before migration 0014c (status does not migrate) has neither table.
  const faultTable = await sql<{
    t: string | null;
  }>`select to_regclass(${`"${schema}".stream_fault`})::text as t`.execute(db);
  if (faultTable.rows[0]?.t) {
    const fault = await new StreamFaultStore(db, schema, inputs.slot).read();
    report.streamFault = fault && {
      ...fault,
      since: fault.since.toISOString(),
      updatedAt: fault.updatedAt.toISOString(),
    };
    const parked = await readParkedChanges(db, schema, inputs.slot, limit);
    report.parkedChanges = {
      count: parked.count,
      recent: parked.recent.map((c) => ({ ...c, at: c.at.toISOString() })),
    };
  }

  // A state schema from before migration 0016 (status does not migrate) has no push history yet.
  const history = await sql<{
    t: string | null;
  }>`select to_regclass(${`"${schema}".push_history`})::text as t`.execute(db);
  if (history.rows[0]?.t) {
    const pushes = new PushHistory(db, schema);
    report.pushes.lastHour = await pushes.countsSince(new Date(now.getTime() - 3_600_000));
    report.backfill = await backfillOf(pushes, report, now, inputs.ratePerMinute ?? 1000);
    report.pushes.recent = (await pushes.latest(limit)).map((p) => ({
      at: p.at.toISOString(),
      externalId: p.externalId,
      result: p.result,
      code: p.code,
      message: p.message,
    }));
  }
}

/** Seconds of push history the backfill's rate is measured over. */
const BACKFILL_WINDOW_S = 300;

async function backfillOf(
  pushes: PushHistory,
  report: StatusReport,
  now: Date,
  budgetPerMinute: number,
): Promise<NonNullable<StatusReport['backfill']>> {
  // A connector that started less than the window ago measured only since its start.
  const run = report.connector;
  const running = run && !run.stoppedAt ? (now.getTime() - Date.parse(run.startedAt)) / 1000 : Infinity;
  const windowSeconds = Math.max(1, Math.min(BACKFILL_WINDOW_S, running));
  const drained = await pushes.drainedBelowLiveSince(new Date(now.getTime() - windowSeconds * 1000));
  const count = (lane: LaneName) => report.backlog.find((b) => b.lane === lane)?.count ?? 0;
  return {
    ...backfillProgress({
      bulk: count('bulk'),
      backfill: count('backfill'),
      drained,
      windowSeconds,
      budgetPerMinute,
    }),
    windowSeconds,
    budgetPerMinute,
  };
}
