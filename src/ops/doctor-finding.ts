// One finding of `approval-cdc doctor`: what was checked, whether it is as the connector needs it,
// how bad it is when not, and the SQL or setting that fixes it. Shared by every group of checks.

export type Severity = 'error' | 'warn' | 'info';

export interface Finding {
  id: string;
  /** false when something is not as the connector needs it; `severity` says how bad that is. */
  ok: boolean;
  severity: Severity;
  finding: string;
  /** The SQL or setting that fixes it; null when there is nothing to fix. */
  fix: string | null;
}

export const pass = (id: string, finding: string): Finding => ({
  id,
  ok: true,
  severity: 'info',
  finding,
  fix: null,
});
export const fail = (id: string, severity: Severity, finding: string, fix: string): Finding => ({
  id,
  ok: false,
  severity,
  finding,
  fix,
});
