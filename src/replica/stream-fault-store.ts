// Owns the `stream_fault` row of a slot: the replication stream failing again and again at one
// position, so that `status` shows it without asking the daemon. Invariant: the row exists only
// while the stream has not moved past the reported position (the daemon deletes it when it does,
// and at start: a new process has not failed yet).
import { sql, type Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import { formatLsn, type Lsn } from '../core/lsn.js';

export interface StoredStreamFault {
  position: string;
  tables: string[];
  error: string;
  failures: number;
  since: Date;
  updatedAt: Date;
}

export class StreamFaultStore {
  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
    private readonly slot: string,
  ) {}

  private get t() {
    return sql.id(this.schema, 'stream_fault');
  }

  async record(f: {
    position: Lsn;
    tables: readonly string[];
    error: string;
    failures: number;
  }): Promise<void> {
    await sql`insert into ${this.t} (slot, position, tables, error, failures)
      values (${this.slot}, ${f.position.toString()}::bigint, ${f.tables.join(', ')}, ${f.error}, ${f.failures})
      on conflict (slot) do update set tables = excluded.tables, error = excluded.error, failures = excluded.failures,
        since = case when ${this.t}.position = excluded.position then ${this.t}.since else now() end,
        position = excluded.position, updated_at = now()`.execute(this.db);
  }

  async clear(): Promise<void> {
    await sql`delete from ${this.t} where slot = ${this.slot}`.execute(this.db);
  }

  async read(): Promise<StoredStreamFault | null> {
    const { rows } = await sql<{
      position: string;
      tables: string | null;
      error: string;
      failures: number;
      since: Date;
      updated_at: Date;
    }>`select position::text, tables, error, failures, since, updated_at from ${this.t} where slot = ${this.slot}`.execute(
      this.db,
    );
    const r = rows[0];
    if (!r) return null;
    return {
      position: formatLsn(BigInt(r.position)),
      tables: r.tables ? r.tables.split(', ') : [],
      error: r.error,
      failures: Number(r.failures),
      since: new Date(r.since),
      updatedAt: new Date(r.updated_at),
    };
  }
}
