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
