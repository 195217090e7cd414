// Owns the read-only views of the `instance` table that operators look at: status, the console's
// parked and instance pages, the `parked` command and the lag probe's gauges. Invariant: it only
// reads; every statement that changes an instance is in instance-table.ts, the table's owner.
import { sql, type Kysely } from 'kysely';
import type { StateDb, StateRow } from './state-schema.js';
import { externalIdIs } from './index-keys.js';

/** An instance that failed or is parked, for status. */
export interface InstanceErrorRow {
  externalId: string;
  mapping: string;
  code: string | null;
  message: string | null;
  attempts: number;
  /** parked_at for parked instances, next_attempt_at for retrying ones. */
  at: Date | null;
}

export interface ParkedInstance {
  id: string;
  mapping: string;
  externalId: string;
  parkedAt: Date;
  reason: string;
  attempts: number;
  lastError: string | null;
}

/** Parked instances sharing a code and a reason once ids, numbers and quoted values are blanked. */
export interface ParkedGroup {
  code: string;
  /** The reason with digits as # and quoted text as "…": what the instances of the group share. */
  reasonClass: string;
  count: number;
  example: string;
  oldest: Date;
}

/** Where a page of parked instances ends: the next page starts after it. */
export interface ParkedCursor {
  parkedAt: string;
  id: string;
}

/** The sync state of one instance, as the console shows it. */
export interface InstanceState {
  id: string;
  mapping: string;
  key: string[];
  externalId: string;
  version: bigint;
  syncedVersion: bigint;
  lane: number;
  dirtySince: Date | null;
  attempts: number;
  nextAttemptAt: Date | null;
  parkedAt: Date | null;
  parkedReason: string | null;
  lastError: string | null;
  lastErrorCode: string | null;
  syncedAt: Date | null;
  pushes: number;
  lastUpdateTime: bigint;
}

/** The columns `K` of an instance row, as a raw select returns them. */
type Row<K extends keyof StateRow<'instance'>> = Pick<StateRow<'instance'>, K>;

export class InstanceViews {
  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
  ) {}

  private get t() {
    return sql.id(this.schema, 'instance');
  }

  /** Parked instances, and dirty ones that failed at least once and wait to be tried again. */
  async problemCounts(): Promise<{ parked: number; retrying: number }> {
    const { rows } = await sql<{ parked: number; retrying: number }>`select
      count(*) filter (where parked_at is not null)::int as parked,
      count(*) filter (where parked_at is null and attempts > 0 and version > synced_version)::int as retrying
    from ${this.t}`.execute(this.db);
    return { parked: rows[0]?.parked ?? 0, retrying: rows[0]?.retrying ?? 0 };
  }

  /** The latest parked instances, newest first. */
  async recentlyParked(limit: number): Promise<InstanceErrorRow[]> {
    const { rows } = await sql<
      Row<'external_id' | 'mapping' | 'parked_reason' | 'last_error_code' | 'attempts' | 'parked_at'>
    >`select external_id, mapping, parked_reason, last_error_code, attempts, parked_at
    from ${this.t} where parked_at is not null order by parked_at desc, id limit ${limit}`.execute(this.db);
    return rows.map((r) => ({
      externalId: r.external_id,
      mapping: r.mapping,
      code: r.last_error_code,
      message: r.parked_reason,
      attempts: Number(r.attempts),
      at: r.parked_at,
    }));
  }

  /** Instances waiting for a retry after an error, latest failures first (closely enough, see below). */
  async recentErrors(limit: number): Promise<InstanceErrorRow[]> {
    // There is no "failed at" column; the next attempt time is the failure time plus its backoff, so
    // ordering by it puts the latest failures first closely enough for a status screen.
    const { rows } = await sql<
      Row<'external_id' | 'mapping' | 'last_error' | 'last_error_code' | 'attempts' | 'next_attempt_at'>
    >`select external_id, mapping, last_error, last_error_code, attempts, next_attempt_at
    from ${this.t} where attempts > 0 and parked_at is null and last_error is not null
    order by next_attempt_at desc nulls last, id limit ${limit}`.execute(this.db);
    return rows.map((r) => ({
      externalId: r.external_id,
      mapping: r.mapping,
      code: r.last_error_code,
      message: r.last_error,
      attempts: Number(r.attempts),
      at: r.next_attempt_at,
    }));
  }

  async listParked(limit = 1000): Promise<ParkedInstance[]> {
    const { rows } = await sql<
      Row<'id' | 'mapping' | 'external_id' | 'parked_reason' | 'attempts' | 'last_error'> & {
        parked_at: Date;
      }
    >`select id, mapping, external_id, parked_at, parked_reason, attempts, last_error
      from ${this.t} where parked_at is not null order by parked_at limit ${limit}`.execute(this.db);
    return rows.map(parkedOf);
  }

  /** Of these external ids, which exist and whether each is parked (an id not in the map is unknown). */
  async parkedStateOf(externalIds: readonly string[]): Promise<Map<string, boolean>> {
    const { rows } = await sql<{ external_id: string; parked: boolean }>`select external_id,
        bool_or(parked_at is not null) as parked
      from ${this.t} where external_id = any(${externalIds}::text[]) group by external_id`.execute(this.db);
    return new Map(rows.map((r) => [r.external_id, r.parked]));
  }

  async countParked(): Promise<number> {
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from ${this.t} where parked_at is not null`.execute(this.db);
    return Number(rows[0]?.n ?? 0);
  }

  /** Parked instances grouped by code and reason class, largest groups first (at most `limit`). */
  async parkedGroups(limit = 100): Promise<ParkedGroup[]> {
    const { rows } = await sql<{
      code: string | null;
      reason_class: string;
      count: number;
      example: string | null;
      oldest: Date | string;
    }>`select g.code, g.reason_class, g.count, g.oldest, e.parked_reason as example
      from (select coalesce(last_error_code, '') as code, coalesce(parked_class, '') as reason_class,
              count(*)::int as count, min(parked_at) as oldest
            from ${this.t} where parked_at is not null group by 1, 2 order by count desc, 2 limit ${limit}) g
      left join lateral (select parked_reason from ${this.t} i
        where i.parked_at is not null and coalesce(i.last_error_code, '') = g.code and i.parked_class = g.reason_class
        order by coalesce(i.last_error_code, ''), i.parked_class, i.parked_at, i.id limit 1) e on true
      order by g.count desc, g.reason_class`.execute(this.db);
    return rows.map((r) => ({
      code: r.code ?? '',
      reasonClass: r.reason_class,
      count: Number(r.count),
      example: r.example ?? '',
      oldest: new Date(r.oldest),
    }));
  }

  /**
   * One page of parked instances, oldest first, optionally of one group; `after` is the cursor of
   * the previous page's last entry (keyset paging: a page costs the same deep in a large set).
   */
  async parkedPage(o: {
    group?: { code: string; reasonClass: string };
    after?: ParkedCursor;
    limit: number;
  }): Promise<{ items: (ParkedInstance & { code: string | null })[]; next: ParkedCursor | null }> {
    const code = o.group?.code ?? null;
    const reasonClass = o.group?.reasonClass ?? null;
    const { rows } = await sql<{
      id: string;
      mapping: string;
      external_id: string;
      parked_at: Date | string;
      cursor_at: string;
      parked_reason: string | null;
      attempts: number;
      last_error: string | null;
      last_error_code: string | null;
    }>`select id, mapping, external_id, parked_at, parked_at::text as cursor_at, parked_reason, attempts,
        last_error, last_error_code
      from ${this.t}
      where parked_at is not null
        and (${reasonClass}::text is null or (coalesce(last_error_code, '') = ${code}
          and parked_class = ${reasonClass}))
        and (${o.after?.parkedAt ?? null}::timestamptz is null
          or (parked_at, id) > (${o.after?.parkedAt ?? null}::timestamptz, ${o.after?.id ?? null}::text))
      order by parked_at, id limit ${o.limit + 1}`.execute(this.db);
    const items = rows.slice(0, o.limit).map((r) => ({ ...parkedOf(r), code: r.last_error_code }));
    const last = rows[o.limit - 1];
    return {
      items,
      next: rows.length > o.limit && last ? { parkedAt: last.cursor_at, id: last.id } : null,
    };
  }

  /** The sync state of the instances with these internal ids or this external id. */
  async find(by: { ids: readonly string[] } | { externalId: string }): Promise<InstanceState[]> {
    const ids = 'ids' in by ? by.ids : [];
    const externalId = 'externalId' in by ? by.externalId : null;
    const { rows } = await sql<{
      id: string;
      mapping: string;
      key: string[];
      external_id: string;
      version: string;
      synced_version: string;
      lane: number;
      dirty_since: Date | string | null;
      attempts: number;
      next_attempt_at: Date | string | null;
      parked_at: Date | string | null;
      parked_reason: string | null;
      last_error: string | null;
      last_error_code: string | null;
      synced_at: Date | string | null;
      pushes: string;
      last_update_time: string;
    }>`select id, mapping, key, external_id, version, synced_version, lane, dirty_since, attempts,
        next_attempt_at, parked_at, parked_reason, last_error, last_error_code, synced_at, pushes, last_update_time
      from ${this.t}
      where id = any(${ids}::text[]) or (${externalIdIs(externalId)})
      order by id limit 20`.execute(this.db);
    const date = (v: Date | string | null) => (v === null ? null : new Date(v));
    return rows.map((r) => ({
      id: r.id,
      mapping: r.mapping,
      key: r.key,
      externalId: r.external_id,
      version: BigInt(r.version),
      syncedVersion: BigInt(r.synced_version),
      lane: Number(r.lane),
      dirtySince: date(r.dirty_since),
      attempts: Number(r.attempts),
      nextAttemptAt: date(r.next_attempt_at),
      parkedAt: date(r.parked_at),
      parkedReason: r.parked_reason,
      lastError: r.last_error,
      lastErrorCode: r.last_error_code,
      syncedAt: date(r.synced_at),
      pushes: Number(r.pushes),
      lastUpdateTime: BigInt(r.last_update_time),
    }));
  }

  async backlog(): Promise<{ lane: number; count: number; oldest: Date | null }[]> {
    const { rows } = await sql<{
      lane: number;
      count: number;
      oldest: Date | null;
    }>`select lane, count(*)::int as count, min(dirty_since) as oldest from ${this.t}
      where version > synced_version and parked_at is null group by lane order by lane`.execute(this.db);
    return rows.map((r) => ({
      lane: Number(r.lane),
      count: Number(r.count),
      oldest: r.oldest ? new Date(r.oldest) : null,
    }));
  }
}

/** A parked instance as a raw select returns it (parked_at as a Date or its text). */
function parkedOf(r: {
  id: string;
  mapping: string;
  external_id: string;
  parked_at: Date | string;
  parked_reason: string | null;
  attempts: number;
  last_error: string | null;
}): ParkedInstance {
  return {
    id: r.id,
    mapping: r.mapping,
    externalId: r.external_id,
    parkedAt: new Date(r.parked_at),
    reason: r.parked_reason ?? '',
    attempts: Number(r.attempts),
    lastError: r.last_error,
  };
}
