// Keeps the monthly-quota view of a running connector current: flushes the counted calls to the
// state database, sets the quota metrics, and carries out `approval-cdc resume` (a row in
// resume_request for this slot) on the push gate. One timer; every step is best effort.
// Invariant: a resume request is consumed (deleted) only after the gate resumed, and at most once.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import type { Logger } from '../core/logger.js';
import { projectedCalls, type MonthlyCalls } from './monthly-calls.js';
import type { PushGate } from './push-gate.js';

export interface QuotaWatchOptions {
  db: Kysely<StateDb>;
  schema: string;
  slot: string;
  calls: MonthlyCalls;
  gate: PushGate;
  logger: Logger;
  intervalMs?: number;
  onFigures?: (figures: { used: number; projected: number }) => void;
}

export class QuotaWatch {
  #timer: NodeJS.Timeout | null = null;
  #tick: Promise<void> = Promise.resolve();

  constructor(private readonly o: QuotaWatchOptions) {}

  start(): void {
    this.#timer = setInterval(() => {
      this.#tick = this.#tick.then(() => this.step());
    }, this.o.intervalMs ?? 2000);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#tick;
    await this.o.calls.flush().catch(() => undefined);
  }

  async step(): Promise<void> {
    const { calls, logger } = this.o;
    try {
      await calls.flush();
      this.o.onFigures?.({ used: calls.used, projected: projectedCalls(calls.used, Date.now()) });
      const t = sql.id(this.o.schema, 'resume_request');
      const { rows } = await sql<{ requested_at: Date }>`select requested_at from ${t}
        where slot = ${this.o.slot}`.execute(this.o.db);
      const request = rows[0];
      if (!request) return;
      const reason = this.o.gate.stoppedReason;
      this.o.gate.resume();
      await sql`delete from ${t} where slot = ${this.o.slot} and requested_at = ${request.requested_at}`.execute(
        this.o.db,
      );
      if (reason) logger.warn(`pushing resumed by approval-cdc resume (was: ${reason})`);
      else logger.info('approval-cdc resume: pushing was running already');
    } catch (err) {
      logger.warn({ err }, 'quota watch step failed; trying again');
    }
  }
}

/** Asks the running connector of `slot` to resume pushing (what `approval-cdc resume` writes). */
export async function requestResume(db: Kysely<StateDb>, schema: string, slot: string): Promise<void> {
  await sql`insert into ${sql.id(schema, 'resume_request')} (slot, requested_at) values (${slot}, now())
    on conflict (slot) do update set requested_at = excluded.requested_at`.execute(db);
}
