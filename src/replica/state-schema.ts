// The state database's tables as types: every table and column migrations/index.ts creates, as
// `Kysely<StateDb>` sees them. Invariant: this file changes with every migration that adds a table
// or column (a migration only adds, so a type here is never removed). Read types are what pg returns
// without custom parsers: int8 as text, timestamptz as Date, jsonb parsed.
import type { ColumnType, Generated, Selectable } from 'kysely';
import type { CopyProgress } from '../core/copy-progress.js';

/** bigint: read as text (pg does not parse int8), written as bigint, number or text. */
export type Int8 = ColumnType<string, bigint | number | string, bigint | number | string>;
/** bigint with a default or a sequence behind it: may be left out of an insert. */
export type Int8Default = ColumnType<string, bigint | number | string | undefined, bigint | number | string>;
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
export type TimestampDefault = ColumnType<Date, Date | string | undefined, Date | string>;
/** jsonb: read parsed, written as JSON text. */
export type Json<T> = ColumnType<T, string, string>;
export type JsonDefault<T> = ColumnType<T, string | undefined, string>;

/** Last image of every mapped row; a deleted row stays as a tombstone. */
export interface RowImageColumns {
  tbl: string;
  /** The row's key, as its JSON text (json-key.ts). */
  pk: string;
  lsn: Int8;
  deleted: Generated<boolean>;
  data: Json<Record<string, unknown>>;
}

/** One row per instance: its replica version and what Feishu has (instance-table.ts owns it). */
export interface InstanceColumns {
  id: string;
  mapping: string;
  key: Json<string[]>;
  external_id: string;
  version: Int8Default;
  synced_version: Int8Default;
  lane: Generated<number>;
  dirty_since: Timestamp | null;
  first_commit_at: Timestamp | null;
  last_update_time: Int8Default;
  attempts: Generated<number>;
  next_attempt_at: Timestamp | null;
  parked_at: Timestamp | null;
  parked_reason: string | null;
  /** The parked reason with ids and quoted text blanked: the console's group (migration 0016b). */
  parked_class: string | null;
  last_error: string | null;
  last_error_code: string | null;
  synced_at: Timestamp | null;
  pushes: Int8Default;
  priority: Int8Default;
  source_update_ms: Int8Default;
  accepted_digest: string | null;
  /** First seen in a snapshot copy and not asked yet what update_time Feishu holds (feishu-floor.ts). */
  floor_unknown: Generated<boolean>;
  /** The commit LSN + 1 of a source transaction not applied whole: held while beyond the checkpoint (0023). */
  hold_lsn: Int8 | null;
}

/** The position up to which the source's changes are durable here, per slot. */
export interface CheckpointColumns {
  slot: string;
  lsn: Int8;
  phase: Generated<'creating' | 'snapshot' | 'streaming'>;
  consistent_lsn: Int8 | null;
  /** Written only by checkpoint-store.ts, from the copy's own progress. */
  snapshot_progress: JsonDefault<CopyProgress>;
  last_commit_at: Timestamp | null;
  updated_at: TimestampDefault;
  image_lsn: Int8 | null;
  copy_lsn: Int8 | null;
}

/** Whether the daemon of a slot may push (sync/push-gate.ts). */
export interface PushGateColumns {
  slot: string;
  state: string;
  reason: string | null;
  code: string | null;
  since: Timestamp | null;
  next_probe_at: Timestamp | null;
  probes: Generated<number>;
  updated_at: TimestampDefault;
}

/** The last pushes of each instance (sync/push-history.ts prunes it). */
export interface PushHistoryColumns {
  id: Int8Default;
  at: TimestampDefault;
  instance_id: string;
  external_id: string;
  version: Int8;
  lane: number;
  result: string;
  code: string;
  message: string | null;
  update_time: Int8 | null;
}

/** Definitions as code: the custom code sent and the platform code Feishu answered. */
export interface FeishuDefinitionColumns {
  key: string;
  platform_code: string;
  group_code: string;
  spec_hash: string;
  applied_at: TimestampDefault;
}

/** Legacy identity -> Feishu id of one type; feishu_id null is a negative entry. */
export interface FeishuIdentityColumns {
  kind: string;
  value: string;
  id_type: string;
  feishu_id: string | null;
  resolved_at: TimestampDefault;
}

/** Counted Feishu calls per calendar month (China time). */
export interface FeishuCallsColumns {
  month: string;
  calls: Int8Default;
  updated_at: TimestampDefault;
}

/** `approval-cdc resume`: a request the running connector picks up. */
export interface ResumeRequestColumns {
  slot: string;
  requested_at: TimestampDefault;
}

/** Every external_instances call of the last minutes, per Feishu app. */
export interface RateLedgerColumns {
  id: Int8Default;
  app: string;
  started_at: Timestamp;
  ended_at: Timestamp | null;
}

/** Changes of a large transaction set aside, applied after later ones (replica/bulk-spool.ts). */
export interface BulkSpoolColumns {
  id: Int8Default;
  slot: string;
  last_lsn: Int8;
  changes: string;
  created_at: TimestampDefault;
  /** The instances its changes belong to; null when not known (migration 0025). */
  instances: string[] | null;
}

/** Instances a spooled batch changed, until the spool is found empty (replica/held-instances.ts). */
export interface SpoolHoldColumns {
  id: string;
}

/** Source changes the replica could not store, their instances parked (replica/change-parking.ts). */
export interface ParkedChangeColumns {
  id: Int8Default;
  slot: string;
  lsn: Int8;
  tbl: string;
  pk: string | null;
  kind: string;
  sqlstate: string | null;
  error: string;
  instances: JsonDefault<string[]>;
  parked_at: TimestampDefault;
}

/** A stream failing again and again at one position, per slot (replica/stream-fault-store.ts). */
export interface StreamFaultColumns {
  slot: string;
  position: Int8;
  tables: string | null;
  error: string;
  failures: number;
  since: TimestampDefault;
  updated_at: TimestampDefault;
}

/** One approval bot card per pending episode of a task (notify/message-store.ts owns it). */
export interface BotMessageColumns {
  id: Int8Default;
  mapping: string;
  instance_id: string;
  task_id: string;
  version: number;
  user_id: string;
  uuid: string;
  body: Json<Record<string, unknown>>;
  message_id: string | null;
  state: Generated<'to_send' | 'sent' | 'to_close' | 'closed' | 'dropped' | 'parked'>;
  close_status: string | null;
  close_text: string | null;
  attempts: Generated<number>;
  next_attempt_at: Timestamp | null;
  last_error: string | null;
  created_at: TimestampDefault;
  sent_at: Timestamp | null;
  closed_at: Timestamp | null;
}

/** The inbox of quick-approval decisions (decisions/decision-store.ts owns it). */
export interface DecisionColumns {
  id: Int8Default;
  dedupe_key: string;
  mapping: string;
  instance_id: string;
  task_id: string;
  message_id: string | null;
  via: string;
  action_type: string;
  reason: string | null;
  operator_user_id: string;
  state: Generated<'received' | 'applied' | 'refused' | 'parked'>;
  outcome: string | null;
  attempts: Generated<number>;
  next_attempt_at: Timestamp | null;
  last_error: string | null;
  received_at: TimestampDefault;
  decided_at: Timestamp | null;
}

/** The active connector's run per slot and the fatal error it last stopped on (connector-run.ts). */
export interface ConnectorRunColumns {
  slot: string;
  pid: number;
  started_at: Timestamp;
  stopped_at: Timestamp | null;
  failed_at: Timestamp | null;
  failure_code: string | null;
  failure_message: string | null;
}

export interface StateDb {
  row_image: RowImageColumns;
  instance: InstanceColumns;
  checkpoint: CheckpointColumns;
  push_gate: PushGateColumns;
  push_history: PushHistoryColumns;
  feishu_definition: FeishuDefinitionColumns;
  feishu_identity: FeishuIdentityColumns;
  feishu_calls: FeishuCallsColumns;
  resume_request: ResumeRequestColumns;
  rate_ledger: RateLedgerColumns;
  bulk_spool: BulkSpoolColumns;
  spool_hold: SpoolHoldColumns;
  parked_change: ParkedChangeColumns;
  stream_fault: StreamFaultColumns;
  bot_message: BotMessageColumns;
  decision: DecisionColumns;
  connector_run: ConnectorRunColumns;
}

/** A row of `table` as a select returns it; `Pick` the columns a raw statement selects. */
export type StateRow<T extends keyof StateDb> = Selectable<StateDb[T]>;
