// Owns the exit codes of every command: one table, documented in the README ("Exit codes"), so a
// supervisor or a script can tell a configuration mistake (fix the settings, do not restart in a
// loop) from a runtime failure (restart with backoff). Invariant: commands return these constants,
// and a thrown error is mapped here and nowhere else.
import { isCdcError } from '../errors.js';

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

/** The exit code of a command that ended with this error. */
export function exitCodeOf(error: unknown): ExitCode {
  if (isCdcError(error, 'CONFIG_INVALID') || isCdcError(error, 'MAPPING_INVALID')) return EXIT.config;
  if (isCdcError(error, 'LOCK_HELD')) return EXIT.lockHeld;
  return EXIT.failure;
}
