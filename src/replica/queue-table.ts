// A state table worked as a queue (the decision inbox, the bot cards): rows with an id, a state,
// attempts, last_error and next_attempt_at. Owns what such tables share: where the table is, the
// counts per state, and the two failure transitions (retry later, park with the reason).
// Invariant: a failure always counts an attempt and keeps its reason in last_error.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';

export abstract class QueueTable {
  constructor(
    protected readonly db: Kysely<StateDb>,
    protected readonly schema: string,
    private readonly table: 'decision' | 'bot_message',
  ) {}

  protected get t() {
    return sql.id(this.schema, this.table);
  }

  /** Rows per state. */
  async counts(): Promise<Record<string, number>> {
    const { rows } = await sql<{
      state: string;
      n: number;
    }>`select state, count(*)::int as n from ${this.t} group by state`.execute(this.db);
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /** Another attempt in `delayMs`; with `onlyIn`, only while the row is in that state. */
  protected async retryLater(
    id: string,
    delayMs: number,
    error: string,
    onlyIn: string | null,
  ): Promise<void> {
    await sql`update ${this.t} set attempts = attempts + 1, last_error = ${error},
        next_attempt_at = now() + make_interval(secs => ${delayMs / 1000})
      where id = ${id}::bigint and (${onlyIn}::text is null or state = ${onlyIn})`.execute(this.db);
  }

  /** Parked with the reason; with `onlyIn`, only while the row is in that state. */
  protected async parkRow(id: string, reason: string, onlyIn: string | null): Promise<void> {
    await sql`update ${this.t} set state = 'parked', attempts = attempts + 1, last_error = ${reason}
      where id = ${id}::bigint and (${onlyIn}::text is null or state = ${onlyIn})`.execute(this.db);
  }
}
