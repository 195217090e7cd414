// `approval-cdc status [--json]`: lag, backlog, parked instances and last errors, read from the state
// database and the source's pg_replication_slots, so it answers whether or not a daemon runs.
// Exit 0 when every section could be read, 1 when one was unavailable (the output says which).
import pg from 'pg';
import { openStateOf } from '../replica/state-store.js';
import { gatherStatus, type InstanceProblem, type StatusReport } from '../ops/status-report.js';
import { describeError } from '../errors.js';
import { redactUrls } from '../core/logger.js';
import { describeTableProgress } from '../observe/copy-progress.js';
import { describeBackfillProgress } from '../observe/backfill-progress.js';
import { commandContext, type GlobalFlags } from './context.js';

export async function statusCommand(flags: GlobalFlags & { json?: boolean }): Promise<number> {
  const { settings: s, logger } = commandContext(flags);
  // Status creates nothing: without an embedded store yet it says so.
  const state = await openStateOf(s, {
    max: 2,
    applicationName: 'approval-cdc-status',
    create: false,
    logger,
  }).catch((error: unknown) => ({ error: redactUrls(describeError(error)) }));
  const source = new pg.Client({ connectionString: s.sourceUrl, application_name: 'approval-cdc-status' });
  source.on('error', () => undefined);
  let sourceError: string | null = null;
  try {
    await source.connect();
  } catch (error) {
    sourceError = redactUrls(describeError(error));
  }
  try {
    const report = await gatherStatus({
      state: 'error' in state ? state : { db: state.db, schema: s.stateSchema },
      source: sourceError === null ? source : { error: sourceError },
      slot: s.slotName,
      monthlyCallBudget: s.monthlyCallBudget,
      ratePerMinute: s.ratePerMinute,
    });
    process.stdout.write(flags.json ? renderStatusJson(report) : renderStatusText(report));
    return Object.keys(report.unavailable).length > 0 ? 1 : 0;
  } finally {
    await source.end().catch(() => undefined);
    if (!('error' in state)) await state.close();
    logger.flush();
  }
}

export function renderStatusJson(report: StatusReport): string {
  return `${JSON.stringify(report)}\n`;
}

/** Bytes in binary units, e.g. 1536 -> "1.5 KiB". */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function humanSeconds(s: number | null): string {
  if (s === null) return '-';
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}

export function renderStatusText(r: StatusReport): string {
  const rows: [string, string][] = [];
  const add = (key: string, value: string) => rows.push([key, value]);
  const run = r.connector;
  if (run) {
    add(
      'connector',
      run.stoppedAt
        ? `stopped at ${run.stoppedAt} (pid ${run.pid}, started ${run.startedAt})`
        : `running since ${run.startedAt} (pid ${run.pid}; or killed without a stop)`,
    );
    const f = run.lastFailure;
    // A failure before the current start is history; one that ended the last run is the answer.
    if (f)
      add(
        f.at >= run.startedAt ? 'FAILED' : 'last failure',
        `${f.at}${f.at >= run.startedAt ? '' : ' (before this run started)'} ${f.code ?? '-'}: ${oneLine(f.message)}`,
      );
  }
  const cp = r.checkpoint;
  if (cp) {
    add('checkpoint', `${cp.lsn}  ${cp.phase}`);
    add(
      'last commit',
      cp.lastCommitAt ? `${cp.lastCommitAt}  (${humanSeconds(r.lagSeconds)} ago)` : 'none applied yet',
    );
    for (const t of cp.phase === 'snapshot' ? cp.snapshot : [])
      add(
        `  copy ${t.table}`,
        t.state === 'waiting'
          ? `waiting (~${(t.total ?? 0).toLocaleString('en-US')} rows)`
          : describeTableProgress(t).slice(t.table.length + 1),
      );
  } else if (!r.unavailable.state) {
    add('checkpoint', 'none (slot never set up: run `approval-cdc setup`)');
  }
  const slot = r.slot;
  if (slot) {
    const activity = slot.active ? `active (pid ${slot.activePid ?? '?'})` : 'inactive';
    add('slot', `${activity}  plugin ${slot.plugin ?? '-'}  wal_status ${slot.walStatus ?? '-'}`);
    const walState = WAL_STATES[slot.walStatus ?? ''];
    if (walState) add('slot state', walState);
    add('confirmed flush', slot.confirmedFlushLsn ?? '-');
    add('lag', `${bytes(slot.lagBytes)} of WAL  ${sinceCommit(r.lagSeconds)}`);
    add('retained WAL', bytes(slot.retainedWalBytes));
    add('safe_wal_size', safeWalSize(slot.walStatus, slot.safeWalSizeBytes));
  } else if (!r.unavailable.source) {
    add('slot', `${r.slotName} does not exist on the source`);
  }
  if (!slot && r.checkpoint) add('lag', sinceCommit(r.lagSeconds));
  if (!r.unavailable.state) {
    for (const lane of r.backlog) {
      add(
        `backlog ${lane.lane}`,
        `${lane.count}${lane.count > 0 ? `  oldest ${humanSeconds(lane.oldestPendingSeconds)}` : ''}`,
      );
    }
    if (r.bulkSpool.batches > 0)
      add(
        'bulk spool',
        `${r.bulkSpool.batches} batches of data fixes set aside, oldest ${humanSeconds(r.bulkSpool.oldestSeconds)}: applied in the bulk lane after the live changes`,
      );
    const b = r.backfill;
    if (b && b.remaining > 0) add('backfill', describeBackfillProgress(b, b.budgetPerMinute));
    const p = r.pushing;
    if (p?.state === 'stopped')
      add(
        'pushing',
        `STOPPED since ${p.since ?? '?'} (${p.code ?? '-'}): ${oneLine(p.reason ?? '')}; next probe ${p.nextProbeAt ?? '-'}`,
      );
    else if (p) add('pushing', 'running');
    const c = r.feishuCalls;
    if (c)
      add(
        'calls this month',
        `${c.used}${c.budget ? ` of a budget of ${c.budget}` : ''} (${c.month}, counted calls), projected ${c.projected}${c.budget && c.projected > c.budget ? ' - OVER BUDGET at this rate' : ''}`,
      );
    const f = r.streamFault;
    if (f)
      add(
        'stream',
        `FAILING REPEATEDLY at ${f.position}${f.tables.length > 0 ? ` on ${f.tables.join(', ')}` : ''}: ${f.failures} failures since ${f.since}: ${oneLine(f.error)}`,
      );
    add('retrying', String(r.retrying));
    add('parked', String(r.parked.count));
    if (r.parkedChanges.count > 0)
      add('parked changes', `${r.parkedChanges.count} the replica could not store (table parked_change)`);
    const counts = r.pushes.lastHour.map(
      (c) => `${c.result} ${c.count}${c.code === '0' ? '' : ` (${c.code})`}`,
    );
    add('pushes last hour', counts.length > 0 ? counts.join(', ') : 'none');
  }
  const lines = [`approval-cdc status  slot ${r.slotName}  at ${r.at}`];
  for (const [where, why] of Object.entries(r.unavailable))
    lines.push(`  ${where} database unavailable: ${why}`);
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  for (const [k, v] of rows) lines.push(`  ${k.padEnd(width)}  ${v}`);
  if (r.parked.recent.length > 0) lines.push('  recently parked:', ...problemLines(r.parked.recent));
  if (r.parkedChanges.recent.length > 0)
    lines.push(
      '  recently parked changes:',
      ...r.parkedChanges.recent.map((c) => `    ${c.at}  ${c.table} at ${c.lsn}  ${oneLine(c.error)}`),
    );
  if (r.lastErrors.length > 0) lines.push('  last errors:', ...problemLines(r.lastErrors));
  if (r.pushes.recent.length > 0) lines.push('  last pushes:', ...pushLines(r.pushes.recent));
  return `${lines.join('\n')}\n`;
}

// What an on-call engineer must know about a slot that is not simply reserving its WAL.
const WAL_STATES: Record<string, string> = {
  lost: 'LOST: the WAL it needed was removed (max_slot_wal_keep_size); it can never stream again. Run `approval-cdc setup --resnapshot`',
  unreserved:
    'UNRESERVED: past max_slot_wal_keep_size; it is lost at the next checkpoint unless the connector catches up now',
};

/** safe_wal_size is null both when nothing limits it and when the slot is already lost. */
function safeWalSize(walStatus: string | null, bytes: number | null): string {
  if (walStatus === 'lost') return 'none (the slot is lost)';
  if (bytes === null) return 'unlimited (max_slot_wal_keep_size = -1)';
  return walStatus === 'unreserved' ? `${humanBytes(bytes)} (unreserved: at risk)` : humanBytes(bytes);
}

function sinceCommit(seconds: number | null): string {
  return seconds === null
    ? 'no commit applied yet'
    : `${humanSeconds(seconds)} since the last applied commit`;
}

function bytes(v: number | null): string {
  return v === null ? '-' : `${humanBytes(v)} (${v} B)`;
}

function problemLines(items: InstanceProblem[]): string[] {
  const idWidth = Math.max(...items.map((p) => p.externalId.length));
  const codeWidth = Math.max(...items.map((p) => (p.code ?? '-').length));
  return items.map(
    (p) =>
      `    ${p.externalId.padEnd(idWidth)}  ${(p.code ?? '-').padEnd(codeWidth)}  ${p.attempts}x  ${oneLine(p.message)}`,
  );
}

function pushLines(items: StatusReport['pushes']['recent']): string[] {
  const idWidth = Math.max(...items.map((p) => p.externalId.length));
  return items.map(
    (p) =>
      `    ${p.at}  ${p.externalId.padEnd(idWidth)}  ${p.result} ${p.code}${p.message ? `  ${oneLine(p.message)}` : ''}`,
  );
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}
