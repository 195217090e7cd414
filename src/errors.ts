// The one error model of approval-cdc: every error the connector raises on purpose is a CdcError with
// a stable `code` (for logs, metrics and tests) and the underlying `cause`. Whether an error is
// retryable is decided in one place, sync/retry-policy.ts, never by the thrower.

export const ERROR_CODES = [
  'CONFIG_INVALID',
  'MAPPING_INVALID',
  'MAPPING_UNMAPPABLE',
  'SOURCE_STREAM',
  'SOURCE_SLOT_LOST',
  'SOURCE_SLOT_MISSING',
  'SOURCE_SETUP',
  'SOURCE_PRIVILEGE',
  'SNAPSHOT_FAILED',
  'REPLICA_WRITE',
  'STATE_DB',
  'FEISHU_HTTP',
  'FEISHU_API',
  'FEISHU_RATE_LIMITED',
  'FEISHU_QUOTA',
  'FEISHU_PERMISSION',
  'FEISHU_TOKEN',
  'FEISHU_TIMEOUT',
  'FEISHU_NETWORK',
  'PAYLOAD_LIMIT',
  'LOCK_HELD',
  'SHUTDOWN',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class CdcError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CdcError';
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

export function isCdcError(err: unknown, code?: ErrorCode): err is CdcError {
  return err instanceof CdcError && (code === undefined || err.code === code);
}

/** A short, single-line description of any thrown value, for logs and the parked reason. */
export function describeError(err: unknown): string {
  if (err instanceof CdcError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
