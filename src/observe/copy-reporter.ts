// Reports the initial copy while it runs: metrics per table (rows copied, estimated total), a log
// line every few seconds and at each table's end, and a callback for a terminal bar. Invariant: it
// only observes what the copy hands it after each page; it never slows or changes the copy.
import type { Logger } from '../core/logger.js';
import type { Metrics } from './metrics.js';
import {
  describeTableProgress,
  tableProgress,
  type CopiedTable,
  type TableProgressReport,
} from './copy-progress.js';

export class CopyReporter {
  private lastLog = 0;

  constructor(
    private readonly o: {
      /** Absent where nothing serves metrics (`setup`). */
      metrics?: Metrics;
      logger: Logger;
      /** Least time between two progress log lines. */
      logEveryMs?: number;
      onReport?: (report: TableProgressReport) => void;
      now?: () => number;
    },
  ) {}

  /** The copy saved this table's progress (after a page, or at its start). */
  update(table: string, copied: CopiedTable): void {
    const now = (this.o.now ?? Date.now)();
    const report = tableProgress(table, copied, now);
    this.o.metrics?.snapshotRows.set({ table }, report.rows);
    if (report.total !== null) this.o.metrics?.snapshotRowsEstimated.set({ table }, report.total);
    this.o.onReport?.(report);
    if (report.state === 'done' || now - this.lastLog >= (this.o.logEveryMs ?? 5000)) {
      this.lastLog = now;
      this.o.logger.info(
        {
          table,
          rows: report.rows,
          total: report.total,
          percent: report.percent,
          rowsPerSecond: report.rowsPerSecond === null ? null : Math.round(report.rowsPerSecond),
          etaSeconds: report.etaSeconds === null ? null : Math.round(report.etaSeconds),
        },
        `initial copy: ${describeTableProgress(report)}`,
      );
    }
  }
}
