// Backfill priority of an instance, from its instance row alone: whether it is open (PENDING) and
// when it started, so the initial load can push open approvals first, newest first.
// Invariant: reads only the instance row (no lookups, no other rows, no clock); what cannot be
// computed from that row ranks as open and as old as possible (open = true, startMs = 0), so an
// instance is never pushed later than it would be without ranking because its mapping is unusual.
import type { RowImage } from './contract.js';
import type { CompiledInstance } from './compiled-mapping.js';
import { evaluate, type Expr } from './expression.js';

export interface InstanceRank {
  /** The instance is open (its status is PENDING), or its status cannot be told from the row. */
  readonly open: boolean;
  /** start_time in epoch milliseconds, or 0 when it cannot be told from the row. */
  readonly startMs: number;
  /** update_time in epoch milliseconds, or 0 when it cannot be told from the row. */
  readonly updateMs: number;
}

/** The value of `e` on `row` alone, or undefined when it needs other rows or cannot be computed. */
function rowOnly(e: Expr, row: RowImage): string | null | undefined {
  try {
    // A lookup asks `load`, which answers "not loaded": evaluation throws, the value is unknown.
    return evaluate(e, { row, load: () => undefined, notes: [] });
  } catch {
    return undefined;
  }
}

export function rankInstanceRow(instance: CompiledInstance, row: RowImage): InstanceRank {
  const status = rowOnly(instance.status, row);
  return {
    open: status === null || status === undefined || status === 'PENDING',
    startMs: epochMs(rowOnly(instance.startTime, row)),
    updateMs: epochMs(rowOnly(instance.updateTime, row)),
  };
}

function epochMs(value: string | null | undefined): number {
  const ms = value === null || value === undefined ? NaN : Number(value);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : 0;
}
