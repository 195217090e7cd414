// Owns the exit codes of every command: one table, documented in the README ("Exit codes"), so a
// supervisor or a script can tell a configuration mistake (fix the settings, do not restart in a
// loop) from a runtime failure (restart with backoff). Invariant: commands return these constants,
// and a thrown error is mapped by EXIT_BY_CODE (one entry per error code) and nowhere else.
import { isCdcError, type ErrorCode } from '../errors.js';

export const EXIT = {
  /** Done; for `run`, stopped by SIGINT/SIGTERM after a clean stop. */
  ok: 0,
  /** A runtime failure (database, Feishu, stream), or a check that found errors (doctor, mappings check). */
  failure: 1,
  /** Bad flags, settings or mapping files: nothing was started; fix the configuration. */
  config: 2,
  /** Another connector holds the slot's lock (with APPROVAL_CDC_STANDBY=false), or took it over. */
  lockHeld: 3,
  /** An id named on the command line matches nothing to act on (`parked retry|drop` of an unknown id). */
  notFound: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code of a command that ended with a CdcError of each code. */
export const EXIT_BY_CODE: Readonly<Record<ErrorCode, ExitCode>> = {
  CONFIG_INVALID: EXIT.config,
  MAPPING_INVALID: EXIT.config,
  MAPPING_UNMAPPABLE: EXIT.failure,
  SOURCE_STREAM: EXIT.failure,
  SOURCE_SLOT_LOST: EXIT.failure,
  SOURCE_SLOT_MISSING: EXIT.failure,
  SOURCE_SETUP: EXIT.failure,
  SOURCE_PRIVILEGE: EXIT.failure,
  SNAPSHOT_FAILED: EXIT.failure,
  REPLICA_WRITE: EXIT.failure,
  STATE_DB: EXIT.failure,
  FEISHU_HTTP: EXIT.failure,
  FEISHU_API: EXIT.failure,
  FEISHU_RATE_LIMITED: EXIT.failure,
  FEISHU_QUOTA: EXIT.failure,
  FEISHU_PERMISSION: EXIT.failure,
  FEISHU_TOKEN: EXIT.failure,
  FEISHU_TIMEOUT: EXIT.failure,
  FEISHU_NETWORK: EXIT.failure,
  PAYLOAD_LIMIT: EXIT.failure,
  WRITE_BACK_TRANSIENT: EXIT.failure,
  WRITE_BACK_FAILED: EXIT.failure,
  LOCK_HELD: EXIT.lockHeld,
  SHUTDOWN: EXIT.failure,
  HTTP_REQUEST: EXIT.failure,
  INTERNAL: EXIT.failure,
};

/** The exit code of a command that ended with this error (anything not a CdcError is a failure). */
export function toExitCode(error: unknown): ExitCode {
  return isCdcError(error) ? EXIT_BY_CODE[error.code] : EXIT.failure;
}
