// Owns when the planner statistics of the instance table are refreshed between autovacuum's visits.
// The sync stage's claim (InstanceTable.dueInstances) walks the instance_due index in queue order
// and stops at the first instance due; on statistics taken when the table was a fraction of its size,
// the planner fetches every dirty instance and sorts them instead: 2.6 ms a claim at 3,000 dirty
// instances, 7.4 ms at 6,000, growing with the backlog, for every push. Autovacuum analyzes only
// after its nap (a minute by default) and not at all where it is off, so a stream that creates
// instances in a burst (a catch-up, a data fix) would leave the claims sorting until then; a first
// load analyzes when its copy ends (initial-load.ts). Invariant: the table's size is read at most
// once per CHECK_EVERY_MS, and ANALYZE runs only when the table takes at least twice the pages it took
// when last analyzed (or vacuumed), and MIN_GROWTH_PAGES more: growth is analyzed at each doubling,
// and a table of stable size, however busy, never again.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';

const CHECK_EVERY_MS = 100;
/** About a thousand instances (an instance row takes 100-200 bytes). */
const MIN_GROWTH_PAGES = 16;

export class InstanceStatistics {
  private checkedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
  ) {}

  /** Analyzes the table now. */
  async analyze(): Promise<void> {
    await sql`analyze ${sql.id(this.schema, 'instance')}`.execute(this.db);
  }

  /** Analyzes the table if it has grown enough since its statistics were taken (see the header). */
  async refreshIfGrown(now: number): Promise<void> {
    if (now - this.checkedAt < CHECK_EVERY_MS) return;
    this.checkedAt = now;
    // The size on disk, not the statistics views' row counters: those reach the views only when the
    // writing session reports them (up to a minute later), the size at once.
    const { rows } = await sql<{ pages: number; analyzed: number }>`
      select pg_relation_size(c.oid)::float8 / current_setting('block_size')::float8 as pages,
        c.relpages::float8 as analyzed
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${this.schema} and c.relname = 'instance'`.execute(this.db);
    const row = rows[0];
    if (!row || row.pages < 2 * row.analyzed || row.pages - row.analyzed < MIN_GROWTH_PAGES) return;
    await this.analyze();
  }
}
