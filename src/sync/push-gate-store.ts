// Keeps the push gate's state (src/sync/push-gate.ts) in the state database, one row per slot, so that
// `status` can say pushing is stopped, why and since when, whether or not the daemon answers.
// Invariant: writes are applied in the order the gate changed (one chain), and a failed write never
// affects pushing (the gate itself stays in memory; the next change writes the row again).
import { sql, type Kysely } from 'kysely';
import type { StateDb, StateRow } from '../replica/state-schema.js';
import type { PushGateState } from './push-gate.js';

export interface StoredPushGate {
  state: 'running' | 'stopped';
  reason: string | null;
  code: string | null;
  since: Date | null;
  nextProbeAt: Date | null;
  probes: number;
  updatedAt: Date;
}

export class PushGateStore {
  #chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
    private readonly slot: string,
  ) {}

  /** Queues a write of `state`; resolves once it (and every write before it) is done. */
  write(state: PushGateState): Promise<void> {
    const t = sql.id(this.schema, 'push_gate');
    const stopped = state.state === 'stopped' ? state : null;
    const next = this.#chain.then(async () => {
      await sql`insert into ${t} (slot, state, reason, code, since, next_probe_at, probes, updated_at)
        values (${this.slot}, ${state.state}, ${stopped?.reason ?? null}, ${stopped?.code ?? null},
          ${stopped?.since ?? null}, ${stopped?.nextProbeAt ?? null}, ${stopped?.probes ?? 0}, now())
        on conflict (slot) do update set state = excluded.state, reason = excluded.reason,
          code = excluded.code, since = excluded.since, next_probe_at = excluded.next_probe_at,
          probes = excluded.probes, updated_at = now()`.execute(this.db);
    });
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async read(): Promise<StoredPushGate | null> {
    const t = sql.id(this.schema, 'push_gate');
    const { rows } = await sql<
      Omit<StateRow<'push_gate'>, 'slot'>
    >`select state, reason, code, since, next_probe_at, probes, updated_at
      from ${t} where slot = ${this.slot}`.execute(this.db);
    const r = rows[0];
    if (!r) return null;
    return {
      state: r.state === 'stopped' ? 'stopped' : 'running',
      reason: r.reason,
      code: r.code,
      since: r.since ? new Date(r.since) : null,
      nextProbeAt: r.next_probe_at ? new Date(r.next_probe_at) : null,
      probes: Number(r.probes),
      updatedAt: new Date(r.updated_at),
    };
  }
}
