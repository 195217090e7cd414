// Resolves the legacy identities (emails, mobiles) the mappings ask about into Feishu ids through
// contact v3 users/batch_get_id, into the feishu_identity cache the payload builder reads as data.
// Runs before a build (row-loader's beforeVirtual hook) and for `users report`.
// Invariants:
// - batched to the endpoint's limits: at most 50 emails and 50 mobiles per call;
// - its own rate budget (contact calls do not count toward the monthly quota and have their own
//   per-API limits, feishu-beyond-instances.md §2.1/§8.1), never the approval budget;
// - results are matched by the echoed email/mobile, never by position (§2.2);
// - a found id is trusted for `refreshMs`, a "not found" only for `negativeRefreshMs`, so a
//   directory fix shows up quickly; a failed call writes nothing.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import type { BatchGetIdEntry } from '../feishu/feishu-client.js';
import type { RowQuery } from '../mapping/contract.js';
import {
  IDENTITIES_TABLE,
  normalizeIdentity,
  type IdentityKind,
  type IdType,
} from '../mapping/virtual-tables.js';
import type { RateBudget } from './rate-budget.js';

export interface IdentityLookupApi {
  batchGetId(
    request: { emails?: string[]; mobiles?: string[]; include_resigned?: boolean },
    idType: IdType,
  ): Promise<BatchGetIdEntry[]>;
}

export interface IdentityResolverOptions {
  db: Kysely<StateDb>;
  schema: string;
  api: IdentityLookupApi;
  budget: RateBudget;
  /** How long a found id is used before it is looked up again. */
  refreshMs: number;
  /** How long "no such user" is believed. */
  negativeRefreshMs: number;
  now?: () => number;
  /** Called after each batch_get_id call, for metrics. */
  onLookup?: (event: { idType: IdType; inputs: number; found: number }) => void;
}

export const BATCH_LIMIT = 50;

interface Wanted {
  kind: IdentityKind;
  value: string;
  idType: IdType;
}

export class IdentityResolver {
  /** batch_get_id calls made, for status and tests. */
  calls = 0;

  constructor(private readonly o: IdentityResolverOptions) {}

  /** Makes sure every identity query in `queries` has a fresh cache entry (others are ignored). */
  async ensure(queries: readonly RowQuery[]): Promise<void> {
    const wanted = new Map<string, Wanted>();
    for (const q of queries) {
      if (q.table !== IDENTITIES_TABLE) continue;
      const { kind, value, id_type: idType } = q.match;
      if ((kind !== 'email' && kind !== 'mobile') || !value || !idType) continue;
      wanted.set(`${kind}\u0000${value}\u0000${idType}`, { kind, value, idType: idType as IdType });
    }
    if (wanted.size === 0) return;
    const stale = await this.#stale([...wanted.values()]);
    const byType = new Map<IdType, Wanted[]>();
    for (const w of stale) byType.set(w.idType, [...(byType.get(w.idType) ?? []), w]);
    for (const [idType, list] of byType) {
      const emails = list.filter((w) => w.kind === 'email').map((w) => w.value);
      const mobiles = list.filter((w) => w.kind === 'mobile').map((w) => w.value);
      for (let i = 0; i < Math.max(emails.length, mobiles.length); i += BATCH_LIMIT) {
        await this.#lookup(idType, emails.slice(i, i + BATCH_LIMIT), mobiles.slice(i, i + BATCH_LIMIT));
      }
    }
  }

  async #stale(list: Wanted[]): Promise<Wanted[]> {
    const { rows } = await sql<{
      kind: string;
      value: string;
      id_type: string;
      found: boolean;
      age_ms: number;
    }>`
      select i.kind, i.value, i.id_type, i.feishu_id is not null as found,
        (extract(epoch from (to_timestamp(${(this.o.now ?? Date.now)() / 1000}) - i.resolved_at)) * 1000)::float8 as age_ms
      from ${sql.id(this.o.schema, 'feishu_identity')} i
      join unnest(${list.map((w) => w.kind)}::text[], ${list.map((w) => w.value)}::text[],
                  ${list.map((w) => w.idType)}::text[]) as w(kind, value, id_type)
        using (kind, value, id_type)`.execute(this.o.db);
    const fresh = new Set(
      rows
        .filter((r) => r.age_ms < (r.found ? this.o.refreshMs : this.o.negativeRefreshMs))
        .map((r) => `${r.kind}\u0000${r.value}\u0000${r.id_type}`),
    );
    return list.filter((w) => !fresh.has(`${w.kind}\u0000${w.value}\u0000${w.idType}`));
  }

  async #lookup(idType: IdType, emails: string[], mobiles: string[]): Promise<void> {
    const ticket = await this.o.budget.acquire();
    let entries: BatchGetIdEntry[];
    try {
      entries = await this.o.api.batchGetId(
        { ...(emails.length ? { emails } : {}), ...(mobiles.length ? { mobiles } : {}) },
        idType,
      );
    } finally {
      ticket.release();
    }
    this.calls++;
    const found = new Map<string, string>();
    for (const e of entries) {
      if (e.user_id === undefined) continue;
      if (e.email !== undefined) found.set(`email\u0000${normalizeIdentity('email', e.email)}`, e.user_id);
      if (e.mobile !== undefined)
        found.set(`mobile\u0000${normalizeIdentity('mobile', e.mobile)}`, e.user_id);
    }
    const rows = [
      ...emails.map((value) => ({ kind: 'email', value, id: found.get(`email\u0000${value}`) ?? null })),
      ...mobiles.map((value) => ({ kind: 'mobile', value, id: found.get(`mobile\u0000${value}`) ?? null })),
    ];
    this.o.onLookup?.({ idType, inputs: rows.length, found: rows.filter((r) => r.id !== null).length });
    const at = new Date((this.o.now ?? Date.now)());
    await sql`insert into ${sql.id(this.o.schema, 'feishu_identity')} (kind, value, id_type, feishu_id, resolved_at)
      select kind, value, ${idType}, feishu_id, ${at}
      from unnest(${rows.map((r) => r.kind)}::text[], ${rows.map((r) => r.value)}::text[],
                  ${rows.map((r) => r.id)}::text[]) as r(kind, value, feishu_id)
      on conflict (kind, value, id_type) do update
        set feishu_id = excluded.feishu_id, resolved_at = excluded.resolved_at`.execute(this.o.db);
  }
}
