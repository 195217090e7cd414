// The one error model of approval-cdc: every error the connector raises on purpose is a CdcError with
// a stable `code` (for logs, metrics and tests), details whose shape the code decides (ErrorDetails)
// and the underlying `cause`. Invariant: the thrower says what happened, never what to do about it:
// whether a push is retried, parked or stopped is decided by one table, DISPOSITION_BY_CODE in
// sync/retry-policy.ts (which, for Feishu's answers, applies feishu/error-table.ts's verdict that the
// client carries in the details), and a command's exit code by one table, cli/exit-codes.ts.

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
  /** A decision's write-back failed for now (legacy database or API unreachable, busy, 5xx/429). */
  'WRITE_BACK_TRANSIENT',
  /** A decision's write-back failed for good (the statement or the API refused it outright). */
  'WRITE_BACK_FAILED',
  'LOCK_HELD',
  'SHUTDOWN',
  /** A request to the connector's own HTTP servers (the console) refused. */
  'HTTP_REQUEST',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** What to do after a failed push; see sync/retry-policy.ts. */
export type Disposition = 'retry' | 'renew-token' | 'park' | 'stop' | 'quota';

export const FEISHU_ERROR_CODES = [
  'FEISHU_HTTP',
  'FEISHU_API',
  'FEISHU_RATE_LIMITED',
  'FEISHU_QUOTA',
  'FEISHU_PERMISSION',
  'FEISHU_TOKEN',
  'FEISHU_TIMEOUT',
  'FEISHU_NETWORK',
] as const satisfies readonly ErrorCode[];

export type FeishuErrorCode = (typeof FEISHU_ERROR_CODES)[number];

/** The details of every Feishu error: what was called and feishu/error-table.ts's verdict on it. */
export interface FeishuErrorDetails {
  endpoint: string;
  httpStatus?: number;
  feishuCode?: number;
  feishuMsg?: string;
  disposition: Disposition;
  reason: string;
  retryAfterMs?: number;
  /** 99991672: the link where an admin grants the missing scope (feishu-beyond-instances.md §3.5). */
  scopeLink?: string;
}

/** A problem of a mapping file, as mapping/mapping-problem.ts reports it. */
export interface MappingProblemDetail {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly found: string;
  readonly expected: string;
  readonly message: string;
}

type NoDetails = Readonly<Record<never, never>>;

/** The details each code carries. */
export type ErrorDetails = {
  [C in ErrorCode]: C extends FeishuErrorCode
    ? FeishuErrorDetails
    : C extends 'CONFIG_INVALID'
      ? { problems?: readonly string[] }
      : C extends 'MAPPING_INVALID'
        ? { problems: readonly MappingProblemDetail[] }
        : C extends 'SOURCE_PRIVILEGE'
          ? { problems: readonly { id: string; sql: string }[] }
          : NoDetails;
};

/** The constructor's options: details are required where the code's details have required fields. */
type ErrorOptions<C extends ErrorCode> = NoDetails extends ErrorDetails[C]
  ? [options?: { cause?: unknown; details?: ErrorDetails[C] }]
  : [options: { cause?: unknown; details: ErrorDetails[C] }];

export class CdcError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly details: Readonly<ErrorDetails[C]>;

  constructor(code: C, message: string, ...[options]: ErrorOptions<C>) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CdcError';
    this.code = code;
    this.details = Object.freeze({ ...(options?.details ?? {}) } as ErrorDetails[C]);
  }
}

/** Any CdcError, as a union discriminated by `code`: checking the code narrows the details. */
export type AnyCdcError = { [C in ErrorCode]: CdcError<C> }[ErrorCode];

export function isCdcError(err: unknown): err is AnyCdcError;
export function isCdcError<C extends ErrorCode>(err: unknown, code: C): err is CdcError<C>;
export function isCdcError(err: unknown, code?: ErrorCode): boolean {
  return err instanceof CdcError && (code === undefined || err.code === code);
}

/** A Feishu error: its details hold the endpoint, the answer and error-table.ts's verdict. */
export function isFeishuError(err: unknown): err is CdcError<FeishuErrorCode> {
  if (!(err instanceof CdcError)) return false;
  const code: ErrorCode = (err as CdcError).code;
  return (FEISHU_ERROR_CODES as readonly string[]).includes(code);
}

/** A short, single-line description of any thrown value, for logs and the parked reason. */
export function describeError(err: unknown): string {
  if (err instanceof CdcError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
