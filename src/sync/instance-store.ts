// Reads and updates the sync state of instances (the `instance` table). The replica writer bumps
// versions; this module records what Feishu accepted, retries and parking. Invariant: synced_version
// only moves up, and only to a version whose rows were read before the accepted push was built.
import { sql, type Kysely } from 'kysely';
import type { InstanceRef } from '../mapping/contract.js';

export interface DirtyInstance {
  id: string;
  ref: InstanceRef;
  externalId: string;
  version: bigint;
  lane: number;
  lastUpdateTime: bigint;
  attempts: number;
  firstCommitAt: Date | null;
  /** Digest of the last payload Feishu accepted (payloadDigest), null when unknown. */
  acceptedDigest: string | null;
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

// Blanks what differs between instances with the same problem (ids, numbers, quoted values).
const REASON_CLASS = (column: string) =>
  sql.raw(
    `regexp_replace(regexp_replace(coalesce(${column}, ''), '"[^"]*"', '"…"', 'g'), '[0-9]+', '#', 'g')`,
  );

export class InstanceStore {
  constructor(
    private readonly db: Kysely<any>,
    private readonly schema: string,
  ) {}

  private get t() {
    return sql.id(this.schema, 'instance');
  }

  async dueInstances(limit: number, exclude: readonly string[]): Promise<DirtyInstance[]> {
    const { rows } = await sql<any>`
      select id, mapping, key, external_id, version, lane, last_update_time, attempts, first_commit_at,
        accepted_digest
      from ${this.t}
      where version > synced_version and parked_at is null
        and (next_attempt_at is null or next_attempt_at <= now())
        and not (id = any(${exclude}::text[]))
      order by lane, priority desc, dirty_since
      limit ${limit}`.execute(this.db);
    return rows.map((r: any) => ({
      id: r.id,
      ref: { mapping: r.mapping, key: r.key as string[] },
      externalId: r.external_id,
      version: BigInt(r.version),
      lane: Number(r.lane),
      lastUpdateTime: BigInt(r.last_update_time),
      attempts: Number(r.attempts),
      firstCommitAt: r.first_commit_at ? new Date(r.first_commit_at) : null,
      acceptedDigest: r.accepted_digest ?? null,
    }));
  }

  /** Feishu accepted the payload with `digest` (null: nothing was pushed, e.g. an absent instance). */
  async markSynced(
    id: string,
    version: bigint,
    updateTime: bigint,
    minIntervalMs: number,
    digest: string | null,
  ): Promise<void> {
    await sql`update ${this.t} set
        synced_version = greatest(synced_version, ${version.toString()}::bigint), accepted_digest = ${digest},
        last_update_time = greatest(last_update_time, ${updateTime.toString()}::bigint),
        first_commit_at = case when version <= ${version.toString()}::bigint then null else first_commit_at end,
        attempts = 0, last_error = null, last_error_code = null, synced_at = now(), pushes = pushes + 1,
        next_attempt_at = now() + make_interval(secs => ${minIntervalMs / 1000})
      where id = ${id}`.execute(this.db);
  }

  /**
   * The version's payload equals the one Feishu accepted last: synced without a push. The minimum
   * push interval is not restarted, since nothing reached Feishu.
   */
  async markUnchanged(id: string, version: bigint): Promise<void> {
    await sql`update ${this.t} set
        synced_version = greatest(synced_version, ${version.toString()}::bigint),
        first_commit_at = case when version <= ${version.toString()}::bigint then null else first_commit_at end,
        attempts = 0, last_error = null, last_error_code = null
      where id = ${id}`.execute(this.db);
  }

  async markRetry(id: string, delayMs: number, error: string, code: string): Promise<void> {
    await sql`update ${this.t} set attempts = attempts + 1, last_error = ${error}, last_error_code = ${code},
        next_attempt_at = now() + make_interval(secs => ${delayMs / 1000})
      where id = ${id}`.execute(this.db);
  }

  async park(id: string, reason: string, code: string): Promise<void> {
    await sql`update ${this.t} set parked_at = now(), parked_reason = ${reason}, attempts = attempts + 1,
        last_error = ${reason}, last_error_code = ${code}
      where id = ${id}`.execute(this.db);
  }

  async listParked(limit = 1000): Promise<ParkedInstance[]> {
    const { rows } =
      await sql<any>`select id, mapping, external_id, parked_at, parked_reason, attempts, last_error
      from ${this.t} where parked_at is not null order by parked_at limit ${limit}`.execute(this.db);
    return rows.map((r: any) => ({
      id: r.id,
      mapping: r.mapping,
      externalId: r.external_id,
      parkedAt: new Date(r.parked_at),
      reason: r.parked_reason,
      attempts: Number(r.attempts),
      lastError: r.last_error,
    }));
  }

  async countParked(): Promise<number> {
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from ${this.t} where parked_at is not null`.execute(this.db);
    return Number(rows[0]?.n ?? 0);
  }

  /** Un-parks instances (all, or those whose external id is listed) so they are tried again now. */
  async retryParked(externalIds: readonly string[] | 'all'): Promise<number> {
    const res =
      await sql`update ${this.t} set parked_at = null, parked_reason = null, attempts = 0, next_attempt_at = null
      where parked_at is not null and (${externalIds === 'all'} or external_id = any(${externalIds === 'all' ? [] : externalIds}::text[]))`.execute(
        this.db,
      );
    return Number(res.numAffectedRows ?? 0);
  }

  /** Gives up on parked instances: marks their current version synced without pushing it. */
  async dropParked(externalIds: readonly string[] | 'all'): Promise<number> {
    const res = await sql`update ${this.t} set parked_at = null, parked_reason = null, attempts = 0,
        synced_version = version, first_commit_at = null
      where parked_at is not null and (${externalIds === 'all'} or external_id = any(${externalIds === 'all' ? [] : externalIds}::text[]))`.execute(
      this.db,
    );
    return Number(res.numAffectedRows ?? 0);
  }

  /** Parked instances grouped by code and reason class, largest groups first (at most `limit`). */
  async parkedGroups(limit = 100): Promise<ParkedGroup[]> {
    const { rows } = await sql<{
      code: string | null;
      reason_class: string;
      count: number;
      example: string | null;
      oldest: Date | string;
    }>`select last_error_code as code, ${REASON_CLASS('parked_reason')} as reason_class, count(*)::int as count,
        min(parked_reason) as example, min(parked_at) as oldest
      from ${this.t} where parked_at is not null
      group by 1, 2 order by count desc, 2 limit ${limit}`.execute(this.db);
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
          and ${REASON_CLASS('parked_reason')} = ${reasonClass}))
        and (${o.after?.parkedAt ?? null}::timestamptz is null
          or (parked_at, id) > (${o.after?.parkedAt ?? null}::timestamptz, ${o.after?.id ?? null}::text))
      order by parked_at, id limit ${o.limit + 1}`.execute(this.db);
    const items = rows.slice(0, o.limit).map((r) => ({
      id: r.id,
      mapping: r.mapping,
      externalId: r.external_id,
      parkedAt: new Date(r.parked_at),
      reason: r.parked_reason ?? '',
      attempts: Number(r.attempts),
      lastError: r.last_error,
      code: r.last_error_code,
    }));
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
      where id = any(${ids}::text[]) or external_id = ${externalId}
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
    const { rows } =
      await sql<any>`select lane, count(*)::int as count, min(dirty_since) as oldest from ${this.t}
      where version > synced_version and parked_at is null group by lane order by lane`.execute(this.db);
    return rows.map((r: any) => ({
      lane: Number(r.lane),
      count: Number(r.count),
      oldest: r.oldest ? new Date(r.oldest) : null,
    }));
  }
}
