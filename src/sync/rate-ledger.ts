// Owns the durable ledger of external_instances calls (`rate_ledger` in the state database), shared
// by every connector of one Feishu app: the active one, a standby that takes over, a restarted one.
// Invariant: a call is in the ledger before it is sent (begin() resolves after the insert commits),
// so a process that starts after another died can count every call Feishu may still hold against
// the app's windows. Times are the state database's clock, turned into ages, so hosts with
// different clocks agree.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import type { Logger } from '../core/logger.js';
import { LogThrottle, errorKind } from '../core/log-throttle.js';

export interface RateLedgerOptions {
  db: Kysely<StateDb>;
  schema: string;
  /** The Feishu app whose budget this is (Feishu counts per app and endpoint). */
  app: string;
  /** The longest window counted (the per-minute one). */
  windowMs: number;
  /** A call with no recorded end (its process died) counts as ending this long after its start. */
  timeoutMs: number;
  logger: Logger;
}

const PRUNE_EVERY = 500;

export class RateLedger {
  private begun = 0;
  private readonly ends = new Set<Promise<void>>();
  /** A state database that is down fails every write: one line a minute, not one per push. */
  private readonly failureLog: LogThrottle;

  constructor(private readonly o: RateLedgerOptions) {
    this.failureLog = new LogThrottle(o.logger);
  }

  private get t() {
    return sql.id(this.o.schema, 'rate_ledger');
  }

  /** End times, on this process's clock (`now`), of the calls that still count in the window. */
  async recent(now = Date.now()): Promise<number[]> {
    const { rows } = await sql<{ ago_ms: string }>`
      select (extract(epoch from clock_timestamp() - e.ended) * 1000)::bigint::text as ago_ms
      from ${this.t} l,
        lateral (select coalesce(l.ended_at, l.started_at + make_interval(secs => ${this.o.timeoutMs / 1000})) as ended) e
      where l.app = ${this.o.app}
        and e.ended > clock_timestamp() - make_interval(secs => ${this.o.windowMs / 1000})`.execute(
      this.o.db,
    );
    return rows.map((r) => now - Number(r.ago_ms));
  }

  /** Records a call about to be sent; resolves once durable, with the function that records its end. */
  async begin(): Promise<() => void> {
    if (++this.begun % PRUNE_EVERY === 0) this.track(this.prune());
    const { rows } = await sql<{ id: string }>`insert into ${this.t} (app, started_at)
      values (${this.o.app}, clock_timestamp()) returning id::text`.execute(this.o.db);
    const id = rows[0]?.id;
    return () => {
      if (id !== undefined)
        this.track(
          sql`update ${this.t} set ended_at = clock_timestamp() where id = ${id}::bigint`
            .execute(this.o.db)
            .then(() => undefined),
        );
    };
  }

  /** Waits for the end records still being written (on stop). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.ends]);
    this.failureLog.flush();
  }

  private prune(): Promise<void> {
    return sql`delete from ${this.t} where started_at < clock_timestamp() - make_interval(secs => ${
      (2 * this.o.windowMs + this.o.timeoutMs) / 1000
    })`
      .execute(this.o.db)
      .then(() => undefined);
  }

  /** Ledger writes after a call are best effort: a lost end record only makes the budget stricter. */
  private track(p: Promise<void>): void {
    const tracked = p.catch((e: unknown) =>
      this.failureLog.warn(errorKind(e), { err: e }, 'rate ledger write failed'),
    );
    this.ends.add(tracked);
    void tracked.finally(() => this.ends.delete(tracked));
  }
}
