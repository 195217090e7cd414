// The tenant's monthly API quota as the connector sees it (feishu-beyond-instances.md §3.1, §3.7):
// counted calls (approval APIs that succeeded) per calendar month, kept in the state database
// because Feishu offers no API to read its counter; the projection to the month's end; and, with a
// monthly budget, the pace that spreads the remaining calls over the remaining month.
// Months are China time (UTC+8): Feishu renews on the 1st and names no zone, so this is the likely
// boundary, and a pause ends by probing anyway (§3.3), never by this clock alone.
// Invariants: the month math is pure (clock passed in); a count that fails to reach the database is
// kept in memory and written with the next flush, never lost or double-counted.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import { RateBudget, type BudgetTicket, type RateBudgetOptions } from './rate-budget.js';

const CHINA_OFFSET_MS = 8 * 3600_000;

/** "2026-12" for the calendar month (China time) that `ms` falls in. */
export function monthKey(ms: number): string {
  return new Date(ms + CHINA_OFFSET_MS).toISOString().slice(0, 7);
}

/** Start of the month `ms` falls in and of the next one (the renewal), as epoch ms. */
export function monthBounds(ms: number): { start: number; renewal: number } {
  const d = new Date(ms + CHINA_OFFSET_MS);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - CHINA_OFFSET_MS;
  const renewal = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - CHINA_OFFSET_MS;
  return { start, renewal };
}

/** Calls this month projected to its end at the average rate so far. */
export function projectedCalls(used: number, now: number): number {
  const { start, renewal } = monthBounds(now);
  const elapsed = Math.max(60_000, now - start);
  return Math.round((used * (renewal - start)) / elapsed);
}

/**
 * Milliseconds the next counted call should wait so that the calls left in `budget` last until the
 * renewal: the remaining time divided evenly among the remaining calls (0 with no budget).
 */
export function paceDelayMs(budget: number, used: number, lastCallAt: number, now: number): number {
  if (budget <= 0) return 0;
  const { renewal } = monthBounds(now);
  const left = budget - used;
  if (left <= 0) return renewal - now;
  const spacing = (renewal - now) / left;
  return Math.max(0, Math.round(lastCallAt + spacing - now));
}

export class MonthlyCalls {
  #month: string;
  #used = 0;
  #unflushed = 0;
  #lastCallAt = 0;

  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
    private readonly now: () => number = Date.now,
  ) {
    this.#month = monthKey(now());
  }

  /** Reads this month's count (call once at start). */
  async load(): Promise<void> {
    this.#month = monthKey(this.now());
    const { rows } = await sql<{ calls: string }>`select calls from ${sql.id(this.schema, 'feishu_calls')}
      where month = ${this.#month}`.execute(this.db);
    this.#used = Number(rows[0]?.calls ?? 0) + this.#unflushed;
  }

  /** One counted call succeeded. */
  add(n = 1): void {
    this.#roll();
    this.#used += n;
    this.#unflushed += n;
    this.#lastCallAt = this.now();
  }

  get used(): number {
    this.#roll();
    return this.#used;
  }

  get lastCallAt(): number {
    return this.#lastCallAt;
  }

  /** Writes the calls counted since the last flush. */
  async flush(): Promise<void> {
    const n = this.#unflushed;
    if (n === 0) return;
    const month = this.#month;
    this.#unflushed = 0;
    try {
      await recordCalls(this.db, this.schema, month, n);
    } catch (err) {
      if (month === this.#month) this.#unflushed += n;
      throw err;
    }
  }

  #roll(): void {
    const month = monthKey(this.now());
    if (month === this.#month) return;
    // A new month: what is still unflushed belonged to the old one and is dropped with it.
    this.#month = month;
    this.#used = 0;
    this.#unflushed = 0;
  }
}

/** Adds `n` counted calls to `month` (also used by commands that call Feishu, e.g. definitions apply). */
export async function recordCalls(
  db: Kysely<StateDb>,
  schema: string,
  month: string,
  n: number,
): Promise<void> {
  if (n <= 0) return;
  await sql`insert into ${sql.id(schema, 'feishu_calls')} (month, calls, updated_at) values (${month}, ${n}, now())
    on conflict (month) do update set calls = ${sql.id(schema, 'feishu_calls')}.calls + excluded.calls,
      updated_at = now()`.execute(db);
}

export async function readCalls(db: Kysely<StateDb>, schema: string, month: string): Promise<number> {
  const { rows } = await sql<{ calls: string }>`select calls from ${sql.id(schema, 'feishu_calls')}
    where month = ${month}`.execute(db);
  return Number(rows[0]?.calls ?? 0);
}

/**
 * The approval rate budget, paced by a monthly budget: a unit is granted no sooner than the pace
 * allows, so the month's calls are spread over the month instead of spent in its first hours.
 */
export class PacedRateBudget extends RateBudget {
  constructor(
    options: RateBudgetOptions,
    private readonly calls: MonthlyCalls,
    private readonly monthlyBudget: number,
    private readonly clock: () => number = Date.now,
  ) {
    super(options);
  }

  override async acquire(signal?: AbortSignal): Promise<BudgetTicket> {
    for (;;) {
      const wait = paceDelayMs(this.monthlyBudget, this.calls.used, this.calls.lastCallAt, this.clock());
      if (wait <= 0) break;
      await sleepOrAbort(Math.min(wait, 60_000), signal);
    }
    return super.acquire(signal);
  }
}

function sleepOrAbort(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
