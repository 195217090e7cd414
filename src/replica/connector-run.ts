// Keeps the active connector's own run in the state database, one row per slot: started, stopped
// cleanly, or failed with the fatal error it stopped on. `status` reads it, so "why is the connector
// itself failing" has an answer whether or not a process runs. Invariant: only the holder of the
// slot's active lock writes the row (a standby's failure never hides the active one's), and a
// failed write never changes how the connector stops (it is best effort, bounded by a timeout).
import { sql, type Kysely } from 'kysely';
import { redactUrls } from '../core/logger.js';
import { describeError, isCdcError } from '../errors.js';
import type { StateDb, StateRow } from './state-schema.js';

export interface ConnectorRun {
  pid: number;
  startedAt: Date;
  stoppedAt: Date | null;
  failedAt: Date | null;
  failureCode: string | null;
  failureMessage: string | null;
}

const MAX_MESSAGE = 2000;

export class ConnectorRunStore {
  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
    private readonly slot: string,
  ) {}

  private get t() {
    return sql.id(this.schema, 'connector_run');
  }

  /** A new run starts; the last failure stays until a later one replaces it (status dates both). */
  async started(): Promise<void> {
    await sql`insert into ${this.t} (slot, pid, started_at) values (${this.slot}, ${process.pid}, now())
      on conflict (slot) do update set pid = excluded.pid, started_at = now(), stopped_at = null`.execute(
      this.db,
    );
  }

  /** The run ended: cleanly (no error) or on `error`, recorded with its code and redacted message. */
  async stopped(error?: unknown): Promise<void> {
    if (error === undefined) {
      await sql`update ${this.t} set stopped_at = now() where slot = ${this.slot}`.execute(this.db);
      return;
    }
    const code = isCdcError(error) ? error.code : 'INTERNAL';
    // The code has its own column; describeError would repeat it.
    const message = redactUrls(isCdcError(error) ? error.message : describeError(error)).slice(
      0,
      MAX_MESSAGE,
    );
    await sql`update ${this.t} set stopped_at = now(), failed_at = now(), failure_code = ${code},
        failure_message = ${message} where slot = ${this.slot}`.execute(this.db);
  }

  async read(): Promise<ConnectorRun | null> {
    const { rows } = await sql<Omit<StateRow<'connector_run'>, 'slot'>>`select pid, started_at, stopped_at,
        failed_at, failure_code, failure_message from ${this.t} where slot = ${this.slot}`.execute(this.db);
    const r = rows[0];
    if (!r) return null;
    const date = (v: Date | string | null) => (v ? new Date(v) : null);
    return {
      pid: Number(r.pid),
      startedAt: new Date(r.started_at),
      stoppedAt: date(r.stopped_at),
      failedAt: date(r.failed_at),
      failureCode: r.failure_code,
      failureMessage: r.failure_message,
    };
  }
}
