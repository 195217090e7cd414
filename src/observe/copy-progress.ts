// Owns how far the initial copy is, for the log, `status`, metrics and a terminal bar: per table the
// rows done against an estimated total (pg_class.reltuples, or a count where the table was never
// analyzed), the percentage, the rate and the time left. Pure: the copy calls in with what it saved,
// the clock is passed in. Invariant: an estimate is only an estimate: a percentage never passes
// 100 while the table is still being copied, and a finished table is 100 whatever the estimate said.

/** What the copy saves per table (also in the checkpoint row, so `status` can read it). */
export interface CopiedTable {
  rows: number;
  done: boolean;
  /** Estimated rows of the table when its copy started. */
  total?: number;
  /** When this table's copy started (ISO time). */
  startedAt?: string;
}

export interface TableProgressReport {
  table: string;
  rows: number;
  /** Estimated total rows; null when unknown. */
  total: number | null;
  percent: number | null;
  rowsPerSecond: number | null;
  etaSeconds: number | null;
  state: 'waiting' | 'copying' | 'done';
}

/** The report of one table at `now` (ms). */
export function tableProgress(table: string, t: CopiedTable | undefined, now: number): TableProgressReport {
  if (!t)
    return {
      table,
      rows: 0,
      total: null,
      percent: null,
      rowsPerSecond: null,
      etaSeconds: null,
      state: 'waiting',
    };
  const total = t.total === undefined ? null : Math.max(t.total, t.rows);
  const started = t.startedAt ? Date.parse(t.startedAt) : NaN;
  const elapsed = (now - started) / 1000;
  const rowsPerSecond = Number.isFinite(elapsed) && elapsed > 0 && t.rows > 0 ? t.rows / elapsed : null;
  if (t.done)
    return { table, rows: t.rows, total: t.rows, percent: 100, rowsPerSecond, etaSeconds: 0, state: 'done' };
  const percent = total ? Math.min(99.9, (100 * t.rows) / total) : total === 0 ? 99.9 : null;
  const etaSeconds = total !== null && rowsPerSecond ? Math.max(0, (total - t.rows) / rowsPerSecond) : null;
  const state = t.rows > 0 || t.startedAt ? 'copying' : 'waiting';
  return { table, rows: t.rows, total, percent, rowsPerSecond, etaSeconds, state };
}

/** Every table in copy order, and the whole copy's rows, total and time left. */
export function copyProgress(
  tables: readonly string[],
  saved: Readonly<Record<string, CopiedTable>>,
  now: number,
): { tables: TableProgressReport[]; rows: number; total: number | null; etaSeconds: number | null } {
  const reports = tables.map((t) => tableProgress(t, saved[t], now));
  const rows = reports.reduce((a, r) => a + r.rows, 0);
  const known = reports.every((r) => r.total !== null);
  const total = known ? reports.reduce((a, r) => a + (r.total ?? 0), 0) : null;
  // Tables copy one after another at about the same rate: the rate of the ones seen so far.
  const rates = reports.filter((r) => r.rowsPerSecond !== null);
  const rate = rates.length > 0 ? rates.reduce((a, r) => a + (r.rowsPerSecond ?? 0), 0) / rates.length : null;
  const etaSeconds = total !== null && rate ? Math.max(0, (total - rows) / rate) : null;
  return { tables: reports, rows, total, etaSeconds };
}

/** "1 h 02 min", "3 min 20 s", "12 s". */
export function humanDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** One line for the log and the terminal: "oa.requests 125,000 / 800,000 rows (15.6%), 6,150 rows/s, ETA 1 min 50 s". */
export function describeTableProgress(r: TableProgressReport): string {
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  const of = r.total === null ? '' : ` / ${n(r.total)}`;
  const pct = r.percent === null ? '' : ` (${r.percent.toFixed(1)}%)`;
  const rate = r.rowsPerSecond === null ? '' : `, ${n(r.rowsPerSecond)} rows/s`;
  const eta =
    r.state === 'done' ? ', done' : r.etaSeconds === null ? '' : `, ETA ${humanDuration(r.etaSeconds)}`;
  return `${r.table} ${n(r.rows)}${of} rows${pct}${rate}${eta}`;
}

/** A terminal bar of `width` cells for a percentage. */
export function progressBar(percent: number | null, width = 24): string {
  const filled = percent === null ? 0 : Math.round((Math.min(100, percent) / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** What a terminal shows of a table's copy: the line rewritten in place, a new line once it is done. */
export function terminalProgressLine(r: TableProgressReport): string {
  return `\r\x1b[K  initial copy ${progressBar(r.percent)} ${describeTableProgress(r)}${r.state === 'done' ? '\n' : ''}`;
}
