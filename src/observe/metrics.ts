// Owns the Prometheus metrics of one connector, on its own registry. Invariants: metrics only
// observe, nothing reads them to make decisions; names follow Prometheus conventions (unit as the
// suffix, _total counters, Node's defaults under their standard process_* / nodejs_* names); every
// labelled series whose label values are known in advance exists from the start at 0, so a
// dashboard shows 0 rather than "no data" and `rate()` sees the first increment. Every name here is
// documented in docs/metrics.md (a test checks it) and passes `promtool check metrics` (test/e2e/metrics-lint).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LANE_NAMES } from '../replica/instance-vocabulary.js';

export const LANES = LANE_NAMES;
export const WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost'] as const;
export const PUSH_RESULTS = ['accepted', 'retry', 'parked', 'stopped', 'absent'] as const;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    slotLagBytes: new Gauge({
      name: 'approval_cdc_slot_lag_bytes',
      help: "WAL bytes between the server's current position and the slot's confirmed_flush_lsn",
      registers: [registry],
    }),
    slotRetainedBytes: new Gauge({
      name: 'approval_cdc_slot_retained_wal_bytes',
      help: 'WAL bytes retained by the slot (current position - restart_lsn; NaN = not read)',
      registers: [registry],
    }),
    slotSafeWalBytes: new Gauge({
      name: 'approval_cdc_slot_safe_wal_size_bytes',
      help: 'pg_replication_slots.safe_wal_size: bytes that can still be written before the slot is lost (-1 = unlimited; NaN = not read)',
      registers: [registry],
    }),
    slotWalStatus: new Gauge({
      name: 'approval_cdc_slot_wal_status',
      help: 'pg_replication_slots.wal_status, 1 for the current value',
      labelNames: ['status'],
      registers: [registry],
    }),
    slotActive: new Gauge({
      name: 'approval_cdc_slot_active',
      help: '1 when the slot has an active walsender',
      registers: [registry],
    }),
    secondsSinceCommit: new Gauge({
      name: 'approval_cdc_replication_lag_seconds',
      help: 'Seconds since the commit time of the newest source transaction applied to the replica; idle, a heartbeat commits every APPROVAL_CDC_HEARTBEAT_INTERVAL_MS, so it rises to about that interval and drops back',
      registers: [registry],
    }),
    checkpointLsn: new Gauge({
      name: 'approval_cdc_checkpoint_lsn',
      help: 'Checkpoint LSN as a number (bytes)',
      registers: [registry],
    }),
    commitToAccept: new Histogram({
      name: 'approval_cdc_commit_to_accept_seconds',
      help: 'Seconds from a source commit to Feishu accepting the push that carried it',
      labelNames: ['lane'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    }),
    backlog: new Gauge({
      name: 'approval_cdc_backlog_instances',
      help: 'Instances whose replica version is ahead of Feishu, by lane',
      labelNames: ['lane'],
      registers: [registry],
    }),
    oldestPendingSeconds: new Gauge({
      name: 'approval_cdc_oldest_pending_seconds',
      help: 'Age of the oldest pending instance change, by lane (a first start fills the backfill lane for hours: alert on live)',
      labelNames: ['lane'],
      registers: [registry],
    }),
    backfillRemaining: new Gauge({
      name: 'approval_cdc_backfill_remaining_instances',
      help: 'Instances left in the lanes below live (bulk and backfill): the backfill still to push',
      registers: [registry],
    }),
    backfillRate: new Gauge({
      name: 'approval_cdc_backfill_instances_per_second',
      help: 'Instances leaving the bulk and backfill lanes per second over the last minute (accepted, unchanged, absent or parked)',
      registers: [registry],
    }),
    backfillEta: new Gauge({
      name: 'approval_cdc_backfill_eta_seconds',
      help: "Seconds until the bulk and backfill lanes are empty at the last minute's rate (at the per-minute budget when none left them in that minute); 0 when empty",
      registers: [registry],
    }),
    spoolBatches: new Gauge({
      name: 'approval_cdc_bulk_spool_batches',
      help: 'Batches of bulk transactions (data fixes) set aside in the bulk spool, not yet in the replica; their instances are not in the backlog until applied',
      registers: [registry],
    }),
    spoolOldestSeconds: new Gauge({
      name: 'approval_cdc_bulk_spool_oldest_seconds',
      help: 'Age of the oldest batch in the bulk spool (0 when empty)',
      registers: [registry],
    }),
    parked: new Gauge({
      name: 'approval_cdc_parked_instances',
      help: 'Instances parked with a reason',
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'approval_cdc_pushes_in_flight',
      help: 'Pushes in flight',
      registers: [registry],
    }),
    pushes: new Counter({
      name: 'approval_cdc_pushes_total',
      help: 'Pushes by result and code',
      labelNames: ['result', 'code'],
      registers: [registry],
    }),
    unchangedPayloads: new Counter({
      name: 'approval_cdc_unchanged_payloads_total',
      help: 'Dirty instances marked synced without a push: their payload equals the last one Feishu accepted (update_time aside)',
      registers: [registry],
    }),
    breakerOpen: new Gauge({
      name: 'approval_cdc_breaker_open',
      help: '1 while the circuit breaker holds pushes because Feishu fails every call (one probe at a time)',
      registers: [registry],
    }),
    budgetUsed: new Gauge({
      name: 'approval_cdc_rate_budget_used_last_minute',
      help: 'external_instances calls started in the last 60 s',
      registers: [registry],
    }),
    budgetLimit: new Gauge({
      name: 'approval_cdc_rate_budget_per_minute',
      help: 'Configured per-minute budget',
      registers: [registry],
    }),
    tokenRenewals: new Counter({
      name: 'approval_cdc_token_renewals_total',
      help: 'tenant_access_token renewals',
      registers: [registry],
    }),
    reconnects: new Counter({
      name: 'approval_cdc_stream_reconnects_total',
      help: 'Replication stream rebuilds after an error or silence',
      registers: [registry],
    }),
    streamRepeatedFailures: new Gauge({
      name: 'approval_cdc_stream_repeated_failures',
      help: 'Consecutive failures of the replication stream at one position once reported (3 or more; 0 while it moves)',
      registers: [registry],
    }),
    changesParked: new Counter({
      name: 'approval_cdc_changes_parked_total',
      help: 'Source changes the replica could not store for their values: recorded in parked_change, their instances parked',
      registers: [registry],
    }),
    changesApplied: new Counter({
      name: 'approval_cdc_changes_applied_total',
      help: 'Row changes written to the replica',
      registers: [registry],
    }),
    batchesApplied: new Counter({
      name: 'approval_cdc_batches_applied_total',
      help: 'Replica batches committed',
      registers: [registry],
    }),
    streaming: new Gauge({
      name: 'approval_cdc_streaming',
      help: '1 while the replication stream is connected',
      registers: [registry],
    }),
    snapshotRows: new Gauge({
      name: 'approval_cdc_snapshot_rows_copied',
      help: 'Rows copied by the initial snapshot, by table',
      labelNames: ['table'],
      registers: [registry],
    }),
    snapshotRowsEstimated: new Gauge({
      name: 'approval_cdc_snapshot_rows_estimated',
      help: 'Estimated rows of each mapped table when its initial copy started (pg_class.reltuples, or a count)',
      labelNames: ['table'],
      registers: [registry],
    }),
    reconcileDiffs: new Counter({
      name: 'approval_cdc_reconcile_differences_total',
      help: 'Instances the reconciler found different in Feishu and pushed again',
      registers: [registry],
    }),
    identityLookups: new Counter({
      name: 'approval_cdc_identity_lookups_total',
      help: 'Legacy identities (emails, mobiles) looked up through contact batch_get_id, by result (found, not_found)',
      labelNames: ['result'],
      registers: [registry],
    }),
    quotaPaused: new Gauge({
      name: 'approval_cdc_quota_paused',
      help: "1 while pushing is paused because the tenant's monthly API quota is used up (99991403/99991406)",
      registers: [registry],
    }),
    callsThisMonth: new Gauge({
      name: 'approval_cdc_feishu_calls_this_month',
      help: 'Counted Feishu calls (approval APIs) that succeeded this calendar month, as counted by the connector',
      registers: [registry],
    }),
    callsProjected: new Gauge({
      name: 'approval_cdc_feishu_calls_projected_this_month',
      help: 'Counted calls this month projected to the end of the month at the current rate',
      registers: [registry],
    }),
    pushingStopped: new Gauge({
      name: 'approval_cdc_pushing_stopped',
      help: '1 while pushing is stopped by a definitive Feishu answer (credentials, scope), with its code; probed again on a timer',
      labelNames: ['code'],
      registers: [registry],
    }),
    pushingStoppedSince: new Gauge({
      name: 'approval_cdc_pushing_stopped_since_seconds',
      help: 'Unix time pushing stopped (0 while pushing)',
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'approval_cdc_leader',
      help: '1 when this process holds the active lock, 0 while standing by',
      registers: [registry],
    }),
    botMessages: new Counter({
      name: 'approval_cdc_bot_messages_total',
      help: 'Approval bot card calls by result: sent, closed (card updated), retry, parked',
      labelNames: ['result'],
      registers: [registry],
    }),
    callbacks: new Counter({
      name: 'approval_cdc_callbacks_total',
      help: 'Quick-approval callbacks answered, by HTTP status (200 taken, 401 bad token, 409 refused, ...)',
      labelNames: ['status'],
      registers: [registry],
    }),
    decisions: new Counter({
      name: 'approval_cdc_decisions_total',
      help: 'Decisions taken in Feishu handled by the applier: applied, refused, retry, parked',
      labelNames: ['state'],
      registers: [registry],
    }),
  };
  // Unread is not zero: a gauge nobody could read yet says NaN, so "0 bytes retained" is never a guess.
  for (const g of [m.slotLagBytes, m.slotRetainedBytes, m.slotSafeWalBytes]) g.set(Number.NaN);
  for (const lane of LANES) {
    m.backlog.set({ lane }, 0);
    m.oldestPendingSeconds.set({ lane }, 0);
    m.commitToAccept.zero({ lane });
  }
  for (const g of [m.backfillRemaining, m.backfillRate, m.backfillEta]) g.set(0);
  for (const status of WAL_STATUSES) m.slotWalStatus.set({ status }, 0);
  // The code label is empty (absent) until a push of that result had a code to tell.
  for (const result of PUSH_RESULTS) m.pushes.inc({ result, code: '' }, 0);
  for (const result of ['sent', 'closed', 'retry', 'parked']) m.botMessages.inc({ result }, 0);
  for (const state of ['applied', 'refused', 'retry', 'parked']) m.decisions.inc({ state }, 0);
  for (const status of ['200', '401', '409']) m.callbacks.inc({ status }, 0);
  return m;
}

/** Creates the per-table series (0) for the mapped tables, so each exists before its first copy. */
export function initTableSeries(metrics: Metrics, tables: Iterable<string>): void {
  for (const table of tables) {
    metrics.snapshotRows.set({ table }, 0);
    metrics.snapshotRowsEstimated.set({ table }, 0);
  }
}

export type Metrics = ReturnType<typeof createMetrics>;
