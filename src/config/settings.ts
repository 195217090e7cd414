// Owns the connector's settings: one declarative table (name, env variable, default, description),
// parsed once with zod at the edge and frozen. Invariant: nothing below the composition root reads
// process.env; every stage receives the frozen Settings object or a slice of it.
import { resolve } from 'node:path';
import { redactPostgresUrls } from '../core/redact-url.js';
import { z } from 'zod';
import { CdcError } from '../errors.js';
import { readConfigFile, settingProblems } from './settings-input.js';
import {
  bool,
  fraction,
  httpUrl,
  identifier,
  int,
  isoDate,
  listenAddress,
  oneOf,
  postgresUrl,
} from './setting-types.js';

/** Every setting: key in a config file, env variable, zod type with its default, and what it means. */
export const SETTINGS_TABLE = {
  sourceUrl: {
    env: 'APPROVAL_CDC_SOURCE_URL',
    schema: postgresUrl,
    doc: 'Postgres URL of the legacy database (needs REPLICATION and SELECT on mapped tables).',
  },
  stateUrl: {
    env: 'APPROVAL_CDC_STATE_URL',
    schema: postgresUrl.optional(),
    doc: 'Postgres URL of a state database on another server (required for a standby). Unset: the connector keeps its state in an embedded Postgres under APPROVAL_CDC_STATE_DIR and writes nothing into the legacy database but its slot. Pointing it at the legacy database is possible but adds WAL there (doctor estimates it).',
  },
  stateDir: {
    env: 'APPROVAL_CDC_STATE_DIR',
    schema: z.string().min(1).default('approval-cdc-state'),
    doc: 'Directory of the embedded state store (used when APPROVAL_CDC_STATE_URL is unset); relative to the working directory. Keep it on a persistent volume.',
  },
  stateSchema: {
    env: 'APPROVAL_CDC_STATE_SCHEMA',
    schema: identifier(
      /^[a-z_][a-z0-9_]*$/,
      'a lower-case name: a-z, 0-9, _ (not starting with a digit)',
    ).default('approval_cdc'),
    doc: 'Schema holding the replica, instance versions and checkpoint.',
  },
  slotName: {
    env: 'APPROVAL_CDC_SLOT',
    schema: z
      .string({ error: 'a lower-case name: a-z, 0-9, _' })
      .regex(/^[a-z0-9_]+$/, { error: 'a lower-case name: a-z, 0-9, _' })
      .default('approval_cdc'),
    doc: 'Logical replication slot name.',
  },
  publicationName: {
    env: 'APPROVAL_CDC_PUBLICATION',
    schema: z
      .string({ error: 'a lower-case name: a-z, 0-9, _' })
      .regex(/^[a-z0-9_]+$/, { error: 'a lower-case name: a-z, 0-9, _' })
      .default('approval_cdc'),
    doc: 'Publication over the mapped tables.',
  },
  mappings: {
    env: 'APPROVAL_CDC_MAPPINGS',
    schema: z.string().default('mappings'),
    doc: 'Mapping file or directory of *.yaml files.',
  },
  feishuBaseUrl: {
    env: 'APPROVAL_CDC_FEISHU_URL',
    schema: httpUrl.default('https://open.feishu.cn'),
    doc: 'Feishu Open API base URL (Lark: https://open.larksuite.com).',
  },
  feishuAppId: {
    env: 'APPROVAL_CDC_FEISHU_APP_ID',
    schema: z.string().min(1).optional(),
    doc: 'App ID of the self-built app.',
  },
  feishuAppSecret: {
    env: 'APPROVAL_CDC_FEISHU_APP_SECRET',
    schema: z.string().min(1).optional(),
    doc: 'App secret (never logged).',
  },
  ratePerSecond: {
    env: 'APPROVAL_CDC_RATE_PER_SECOND',
    schema: int(1).default(50),
    doc: 'Client-side budget of external_instances calls per second.',
  },
  ratePerMinute: {
    env: 'APPROVAL_CDC_RATE_PER_MINUTE',
    schema: int(1).default(1000),
    doc: 'Client-side budget of external_instances calls per minute.',
  },
  rateWindowMs: {
    env: 'APPROVAL_CDC_RATE_WINDOW_MS',
    schema: int(1000).default(60_000),
    doc: "Length of the window APPROVAL_CDC_RATE_PER_MINUTE applies to (Feishu's is 60 s; only tests shorten it).",
  },
  breakerFailures: {
    env: 'APPROVAL_CDC_BREAKER_FAILURES',
    schema: int(1).default(5),
    doc: 'Consecutive pushes failing as in an outage (5xx, timeouts, resets) that open the circuit breaker.',
  },
  breakerProbeIntervalMs: {
    env: 'APPROVAL_CDC_BREAKER_PROBE_INTERVAL_MS',
    schema: int(100).default(5000),
    doc: 'While the breaker is open (Feishu fails everything), one probe push this often.',
  },
  bulkThreshold: {
    env: 'APPROVAL_CDC_BULK_THRESHOLD',
    schema: int(0).default(100),
    doc: 'A source transaction that changes more instances than this goes to the bulk lane (below live changes, above the backfill), so a data fix never delays users; 0 = no bulk lane.',
  },
  syncConcurrency: {
    env: 'APPROVAL_CDC_SYNC_CONCURRENCY',
    schema: int(1).default(16),
    doc: 'Pushes in flight at once (one per instance at most).',
  },
  minPushIntervalMs: {
    env: 'APPROVAL_CDC_MIN_PUSH_INTERVAL_MS',
    schema: int(0).default(1000),
    doc: 'Minimum time between two pushes of the same instance.',
  },
  requestTimeoutMs: {
    env: 'APPROVAL_CDC_REQUEST_TIMEOUT_MS',
    schema: int(100).default(10_000),
    doc: 'Timeout of one Feishu HTTP call.',
  },
  stopProbeIntervalMs: {
    env: 'APPROVAL_CDC_STOP_PROBE_INTERVAL_MS',
    schema: int(100).default(30_000),
    doc: 'After Feishu stops pushing (bad credentials, missing scope), one push probes again after this long (doubling up to 10 min).',
  },
  batchMaxChanges: {
    env: 'APPROVAL_CDC_BATCH_MAX_CHANGES',
    schema: int(1).default(2000),
    doc: 'Row changes written to the replica per state transaction at most.',
  },
  batchMaxWaitMs: {
    env: 'APPROVAL_CDC_BATCH_MAX_WAIT_MS',
    schema: int(0).default(50),
    doc: 'Longest a received change waits before its batch is written.',
  },
  statusIntervalMs: {
    env: 'APPROVAL_CDC_STATUS_INTERVAL_MS',
    schema: int(100).default(5000),
    doc: 'Interval of standby status updates (flush LSN) sent to Postgres.',
  },
  heartbeatIntervalMs: {
    env: 'APPROVAL_CDC_HEARTBEAT_INTERVAL_MS',
    schema: int(0).default(10_000),
    doc: 'Interval of heartbeat messages written to the source WAL (0 = off).',
  },
  silenceTimeoutMs: {
    env: 'APPROVAL_CDC_SILENCE_TIMEOUT_MS',
    schema: int(1000).default(90_000),
    doc: 'Rebuild the stream when no byte arrived for this long.',
  },
  truncate: {
    env: 'APPROVAL_CDC_TRUNCATE',
    schema: oneOf(['ignore', 'delete']).default('ignore'),
    doc: 'What TRUNCATE of a mapped table does: ignore (logged) or delete every row.',
  },
  metricsAddress: {
    env: 'APPROVAL_CDC_METRICS_ADDRESS',
    schema: listenAddress.default('127.0.0.1:9187'),
    doc: 'host:port of /metrics, /healthz, /readyz ("off" disables).',
  },
  heapTargetMb: {
    env: 'APPROVAL_CDC_HEAP_TARGET_MB',
    schema: int(0).default(64),
    doc: 'The daemon forces a garbage collection when its V8 heap passes this size (0 = off); not a hard cap.',
  },
  logLevel: {
    env: 'APPROVAL_CDC_LOG_LEVEL',
    schema: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    doc: 'Log level.',
  },
  snapshotPageRows: {
    env: 'APPROVAL_CDC_SNAPSHOT_PAGE_ROWS',
    schema: int(1).default(10_000),
    doc: 'Rows per chunk (one COPY, one state transaction) of the initial copy; progress is saved with each chunk.',
  },
  snapshotConcurrency: {
    env: 'APPROVAL_CDC_SNAPSHOT_CONCURRENCY',
    schema: int(1).default(2),
    doc: 'Tables, or key ranges of a large table, the initial copy reads at once, each on its own source connection importing the slot snapshot (and its own state connection). 2 copied fastest on 2 cores (docs/benchmarks.md); try 3-4 with more cores for the source and state servers.',
  },
  initialLoad: {
    env: 'APPROVAL_CDC_INITIAL_LOAD',
    schema: oneOf(['all', 'open', 'none']).default('all'),
    doc: 'What the first start pushes: all instances, only open ones, or none (the replica keeps every row either way).',
  },
  initialLoadSince: {
    env: 'APPROVAL_CDC_INITIAL_LOAD_SINCE',
    schema: isoDate.optional(),
    doc: 'Initial load pushes only instances whose update_time is at or after this date.',
  },
  initialLoadWhere: {
    env: 'APPROVAL_CDC_INITIAL_LOAD_WHERE',
    schema: z.string().optional(),
    doc: 'Initial load pushes only instances whose instance-table row matches this condition (the `resync --where` language, no SQL); checked at start.',
  },
  reconcileIntervalMs: {
    env: 'APPROVAL_CDC_RECONCILE_INTERVAL_MS',
    schema: int(0).default(300_000),
    doc: 'Interval of external_instances/check runs over recently synced instances (0 = off).',
  },
  reconcileWindowMs: {
    env: 'APPROVAL_CDC_RECONCILE_WINDOW_MS',
    schema: int(1000).default(600_000),
    doc: 'Instances synced within this window are checked.',
  },
  reconcileShare: {
    env: 'APPROVAL_CDC_RECONCILE_SHARE',
    schema: fraction(0, 0.5).default(0.05),
    doc: 'Share of the rate budget the reconciler may use.',
  },
  notifyPerSecond: {
    env: 'APPROVAL_CDC_NOTIFY_PER_SECOND',
    schema: int(1).default(50),
    doc: 'Client-side budget of approval bot message calls (send and update) per second.',
  },
  notifyPerMinute: {
    env: 'APPROVAL_CDC_NOTIFY_PER_MINUTE',
    schema: int(1).default(1000),
    doc: 'Client-side budget of approval bot message calls per minute.',
  },
  callbackAddress: {
    env: 'APPROVAL_CDC_CALLBACK_ADDRESS',
    schema: z.string().default('off'),
    doc: 'host:port the quick-approval callback endpoint listens on ("off" = no endpoint, cards carry no buttons).',
  },
  callbackPath: {
    env: 'APPROVAL_CDC_CALLBACK_PATH',
    schema: z
      .string()
      .regex(/^\/\S*$/)
      .default('/feishu/approval-callback'),
    doc: 'Path of the callback endpoint; every other path answers 404.',
  },
  callbackPublicUrl: {
    env: 'APPROVAL_CDC_CALLBACK_PUBLIC_URL',
    schema: httpUrl.optional(),
    doc: 'The URL Feishu calls (your ingress); default http://<callback address><callback path>.',
  },
  callbackToken: {
    env: 'APPROVAL_CDC_CALLBACK_TOKEN',
    schema: z.string().min(16).optional(),
    doc: 'action_callback_token: the shared secret every callback must carry (never logged).',
  },
  callbackEncryptKey: {
    env: 'APPROVAL_CDC_CALLBACK_ENCRYPT_KEY',
    schema: z.string().min(1).optional(),
    doc: 'action_callback_key: when set, callbacks must be encrypted with it (never logged).',
  },
  callbackMaxBytes: {
    env: 'APPROVAL_CDC_CALLBACK_MAX_BYTES',
    schema: int(1024).default(65_536),
    doc: 'Largest callback body accepted (413 beyond).',
  },
  writebackUrl: {
    env: 'APPROVAL_CDC_WRITEBACK_URL',
    schema: postgresUrl.optional(),
    doc: 'Postgres URL of the legacy database for SQL write-backs, as a role of their own (UPDATE on what the statements change).',
  },
  writebackLedger: {
    env: 'APPROVAL_CDC_WRITEBACK_LEDGER',
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/)
      .default('approval_cdc.writeback_ledger'),
    doc: 'Table in the legacy database recording each applied decision in the write-back transaction.',
  },
  decisionMaxAttempts: {
    env: 'APPROVAL_CDC_DECISION_MAX_ATTEMPTS',
    schema: int(1).default(5),
    doc: 'Transient write-back failures (lost connection, HTTP 5xx) of one decision before it is parked.',
  },
  standby: {
    env: 'APPROVAL_CDC_STANDBY',
    schema: bool.optional(),
    doc: "Wait for the active connector's lock instead of failing when another one runs. Default: true with APPROVAL_CDC_STATE_URL (the standby shares that state database), false with the embedded store, where it is refused.",
  },
  pushHistoryPerInstance: {
    env: 'APPROVAL_CDC_PUSH_HISTORY_PER_INSTANCE',
    schema: int(1).default(20),
    doc: 'Pushes kept in the push history per instance (status, console).',
  },
  pushHistoryTotal: {
    env: 'APPROVAL_CDC_PUSH_HISTORY_TOTAL',
    schema: int(100).default(100_000),
    doc: 'Pushes kept in the push history in total (oldest pruned first).',
  },
  console: {
    env: 'APPROVAL_CDC_CONSOLE',
    schema: bool.default(true),
    doc: 'Serve the web console at /console on the metrics address.',
  },
  adminToken: {
    env: 'APPROVAL_CDC_ADMIN_TOKEN',
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
    doc: 'Token (16+ characters) that unlocks the console actions; unset = read-only console. Never logged.',
  },
  // Onboarding (issue 17): user identities and the monthly quota.
  identityRefreshMs: {
    env: 'APPROVAL_CDC_IDENTITY_REFRESH_MS',
    schema: int(1000).default(86_400_000),
    doc: 'How long a Feishu id found for an email/mobile is used before it is looked up again.',
  },
  identityNegativeRefreshMs: {
    env: 'APPROVAL_CDC_IDENTITY_NEGATIVE_REFRESH_MS',
    schema: int(0).default(600_000),
    doc: 'How long "no Feishu user for this email/mobile" is believed before asking again.',
  },
  identityPerMinute: {
    env: 'APPROVAL_CDC_IDENTITY_PER_MINUTE',
    schema: int(1).default(1000),
    doc: 'Rate budget of contact batch_get_id calls per minute (its own, not the approval budget).',
  },
  identityPerSecond: {
    env: 'APPROVAL_CDC_IDENTITY_PER_SECOND',
    schema: int(1).default(50),
    doc: 'Rate budget of contact batch_get_id calls per second.',
  },
  monthlyCallBudget: {
    env: 'APPROVAL_CDC_MONTHLY_CALL_BUDGET',
    schema: int(0).default(0),
    doc: 'Counted Feishu calls allowed per calendar month (e.g. 10000 on a capped free tenant); 0 = no budget. Pushing is spread over the month and status projects the use.',
  },
  quotaProbeIntervalMs: {
    env: 'APPROVAL_CDC_QUOTA_PROBE_INTERVAL_MS',
    schema: int(1000).default(3_600_000),
    doc: 'While paused by the monthly quota (99991403/99991406): how often one push probes whether it renewed.',
  },
} as const;

type Table = typeof SETTINGS_TABLE;
export type SettingKey = keyof Table;

// Strict: an unknown key is a problem to report (with the key meant), never silently dropped.
const settingsSchema = z.strictObject(
  Object.fromEntries(Object.entries(SETTINGS_TABLE).map(([k, v]) => [k, v.schema])) as {
    [K in SettingKey]: Table[K]['schema'];
  },
);

type Parsed = z.output<typeof settingsSchema>;

/**
 * The frozen settings. `stateUrl` undefined means the embedded state store under `stateDir` (an absolute
 * path); src/replica/state-store.ts turns either into a connection.
 */
export type Settings = Readonly<
  Omit<Parsed, 'standby' | 'stateDir'> & { standby: boolean; stateDir: string }
>;

export interface SettingsSources {
  env?: Record<string, string | undefined>;
  file?: string;
  overrides?: Partial<Record<SettingKey, unknown>>;
}

/**
 * Parses settings from a config file, the environment and overrides (later wins), or throws
 * CONFIG_INVALID listing every problem at once: unknown keys and APPROVAL_CDC_* variables (with the
 * name meant), each bad value with its variable, what was found and what is accepted, and settings
 * that contradict each other.
 */
export function loadSettings(sources: SettingsSources = {}): Settings {
  const raw: Record<string, unknown> = {};
  /** Where each value came from, as the user wrote it: variable, config key or flag. */
  const origin: Record<string, string> = {};
  const problems: string[] = [];
  const table = SETTINGS_TABLE as Record<string, { env: string }>;
  if (sources.file) {
    const file = readConfigFile(sources.file, table);
    problems.push(...file.problems);
    for (const [key, value] of Object.entries(file.values)) {
      raw[key] = value;
      origin[key] = `${key} in ${sources.file}`;
    }
  }
  const env = sources.env ?? {};
  problems.push(...settingProblems.unknownVariables(env, table));
  for (const [key, spec] of Object.entries(table)) {
    const value = env[spec.env];
    if (value !== undefined && value !== '') {
      raw[key] = value;
      origin[key] = spec.env;
    }
  }
  for (const [key, value] of Object.entries(sources.overrides ?? {})) {
    if (value === undefined) continue;
    raw[key] = value;
    origin[key] = OVERRIDE_FLAGS[key] ?? key;
  }
  const result = settingsSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        problems.push(...issue.keys.map((k) => settingProblems.unknownSetting(k, table)));
        continue;
      }
      const key = String(issue.path[0] ?? '');
      problems.push(settingProblems.badValue(key, table[key]?.env, origin[key], raw[key], issue.message));
    }
  } else {
    problems.push(...crossChecks(result.data, origin));
  }
  if (problems.length > 0 || !result.success) {
    const n = problems.length;
    throw new CdcError(
      'CONFIG_INVALID',
      `${n} setting problem${n === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
      {
        details: { problems },
      },
    );
  }
  const data = result.data;
  return Object.freeze({
    ...data,
    // A standby shares the state database and the lock with the active connector: only a state
    // database both reach can hold them, so it is the default exactly when there is one.
    standby: data.standby ?? data.stateUrl !== undefined,
    stateDir: resolve(data.stateDir),
  });
}

/** Flags that set a setting, named in messages instead of the setting's key. */
const OVERRIDE_FLAGS: Record<string, string> = { mappings: '--mappings', logLevel: '--log-level' };

/** Settings valid alone but not together. */
function crossChecks(s: Parsed, origin: Record<string, string>): string[] {
  const name = (key: SettingKey) => origin[key] ?? SETTINGS_TABLE[key].env;
  const out: string[] = [];
  if (s.ratePerSecond > s.ratePerMinute)
    out.push(
      `${name('ratePerSecond')} (${s.ratePerSecond}) is above ${name('ratePerMinute')} (${s.ratePerMinute}): calls per second can be at most the calls per minute`,
    );
  if (s.standby === true && s.stateUrl === undefined)
    out.push(
      `${name('standby')} is true but APPROVAL_CDC_STATE_URL is not set: a standby shares the state database and the active lock with the active connector, which the embedded state store (APPROVAL_CDC_STATE_DIR, one process's own) cannot do; set APPROVAL_CDC_STATE_URL to a Postgres database both connectors reach, or APPROVAL_CDC_STANDBY=false`,
    );
  if (s.callbackAddress !== 'off' && !s.callbackToken)
    out.push(
      `${name('callbackAddress')} is set but ${name('callbackToken')} is not: every callback must carry the token`,
    );
  return out;
}

/** The settings table as text for --help: key, env variable, default, description. */
export function describeSettings(): string {
  return Object.entries(SETTINGS_TABLE)
    .map(([key, spec]) => {
      const parsed = (spec.schema as z.ZodType).safeParse(undefined);
      const shown = !parsed.success
        ? '(required)'
        : parsed.data === undefined
          ? '(optional)'
          : String(parsed.data);
      return `  ${spec.env.padEnd(36)} ${key.padEnd(20)} default ${shown}\n      ${spec.doc}`;
    })
    .join('\n');
}

/** A copy safe to log: secrets and passwords in URLs replaced. */
export function redactedSettings(settings: Settings): Record<string, unknown> {
  const hide = redactPostgresUrls;
  return {
    ...settings,
    sourceUrl: hide(settings.sourceUrl),
    stateUrl: settings.stateUrl === undefined ? undefined : hide(settings.stateUrl),
    feishuAppSecret: settings.feishuAppSecret ? '***' : undefined,
    callbackToken: settings.callbackToken ? '***' : undefined,
    callbackEncryptKey: settings.callbackEncryptKey ? '***' : undefined,
    writebackUrl: settings.writebackUrl ? hide(settings.writebackUrl) : undefined,
    adminToken: settings.adminToken ? '***' : undefined,
  };
}
