// Owns the `instance` table: every statement that writes an instance's version, sync state or
// parking is here, with the reads the pipeline decides by (operators' views: instance-views.ts).
// The replica writer bumps versions (bump), resync and the reconciler mark instances for another
// push (requeue), the initial selection leaves some out (skipBackfill), the sync stage records what
// Feishu accepted, retries and parking. Invariants: a version only goes up;
// synced_version only moves up, and only to a version whose rows were read before the accepted push
// was built; rows are bumped in id order, as the sync stage locks them, so writers cannot deadlock;
// an instance held-instances.ts holds (part of a source transaction applied, not the rest) is never due.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { StateDb, StateRow } from './state-schema.js';
import type { InstanceRef } from '../mapping/contract.js';
import { LANE_BACKFILL, LANE_LIVE, OPEN_PRIORITY } from './instance-vocabulary.js';
import { externalIdIs } from './index-keys.js';
import { HeldInstances } from './held-instances.js';
import { InstanceStatistics } from './instance-statistics.js';

/** Backfill order of an instance (see OPEN_PRIORITY) and its own update time. */
export interface Priority {
  priority: bigint;
  updateMs: number;
}

/** Which backfill instances the initial load keeps (see initial-selection.ts); the rest are skipped. */
export interface BackfillSelection {
  mode: 'all' | 'open' | 'none';
  sinceMs: number | null;
  /** Only these ids (null: no such restriction). */
  keep: readonly string[] | null;
}

/**
 * Instances (`ids`) a source transaction not yet applied whole touched, and its commit LSN + 1: they
 * are held until the checkpoint passes `lsn` (held-instances.ts).
 */
export interface StreamHold {
  lsn: bigint;
  ids: ReadonlySet<string>;
}

/** One instance row as the preview and the reconciler see it. */
export interface InstanceRecord {
  id: string;
  ref: InstanceRef;
  externalId: string;
  lastUpdateTime: bigint;
}

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
  /** First seen in a snapshot copy: Feishu may hold it from another state database (feishu-floor.ts). */
  floorUnknown: boolean;
}

// Blanks what differs between instances with the same problem (ids, numbers, quoted values).
// (Migration 0016b computes it for instances parked before it, with the same expression.)
const REASON_CLASS = (reason: RawBuilder<unknown>) =>
  sql`regexp_replace(regexp_replace(coalesce(${reason}, ''), '"[^"]*"', '"…"', 'g'), '[0-9]+', '#', 'g')`;

/** The columns `K` of an instance row, as a raw select returns them. */
type Row<K extends keyof StateRow<'instance'>> = Pick<StateRow<'instance'>, K>;
type RecordRow = Row<'id' | 'mapping' | 'key' | 'external_id' | 'last_update_time'>;

export class InstanceTable {
  private readonly held: HeldInstances;
  private readonly statistics: InstanceStatistics;

  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
  ) {
    this.held = new HeldInstances(schema);
    this.statistics = new InstanceStatistics(db, schema);
  }

  private get t() {
    return sql.id(this.schema, 'instance');
  }

  /**
   * Of `ids`, those that a bump in `lane` with no priority, update time or commit time would leave as
   * they are under `unpushedOnly` (see bump): dirty in that lane and not parked. A first load's copy
   * leaves them out of its bumps: a request's steps and CCs name its instance again, and probing an id
   * costs about a third of a bump that then changes nothing (3.7 against 9.7 µs, 250,000 instances).
   * Bumps only raise what this reads, so an id found here stays unchanged by a bump for the rest of
   * the transaction. Each id is probed by the primary key (offset 0 keeps the conditions outside the
   * probe: with them inside, the planner walks the partial dirty index instead).
   */
  async unchangedByBump(ids: readonly string[], lane: number): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await sql<{ id: string }>`select u.id from unnest(${ids}::text[]) as u(id)
      cross join lateral (select version, synced_version, lane, priority, source_update_ms, parked_at, parked_reason
        from ${this.t} i where i.id = u.id offset 0) x
      where x.version > x.synced_version and x.lane = ${lane} and x.priority >= 0 and x.source_update_ms >= 0
        and x.parked_at is null and x.parked_reason is null`.execute(this.db);
    return new Set(rows.map((r) => r.id));
  }

  /**
   * The statement that bumps the versions of `refs` in `lane`, or the lane `lanes` gives an id (null
   * when there are none); the replica writer runs it in its batch transaction, or as part of its
   * one-statement commit.
   *
   * `unpushedOnly`: for a first load's copy, which runs before anything is pushed. An instance already
   * dirty whose row the bump would change in nothing but its version is left as it is (no new row
   * version, no index entries: a request's steps and CCs bump its instance again, two thirds of the
   * copy's instance writes). The version only tells a push in flight that rows changed after it read
   * them; with no push before the copy ends there is none, and the instance stays dirty.
   */
  bump(
    refs: Map<string, InstanceRef>,
    lane: number,
    commitTime: Date | null,
    priorities: ReadonlyMap<string, Priority>,
    externalId: (ref: InstanceRef) => string,
    lanes?: ReadonlyMap<string, number>,
    unpushedOnly = false,
    hold?: StreamHold,
  ): RawBuilder<unknown> | null {
    if (refs.size === 0) return null;
    // Rows are locked in id order, as the sync stage does, so concurrent writers cannot deadlock.
    const part = [...refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const inst = this.t;
    // A parked instance whose rows change is tried again by itself: the change clears the parking.
    // One JSON document of rows rather than six array literals: pg builds those by string
    // concatenation and escaping, a tenth of the connector's garbage during catch-up.
    const doc = JSON.stringify(
      part.map(([id, r]) => [
        id,
        r.mapping,
        r.key,
        externalId(r),
        (priorities.get(id)?.priority ?? 0n).toString(),
        String(priorities.get(id)?.updateMs ?? 0),
        lanes?.get(id) ?? lane,
        hold?.ids.has(id) === true ? hold.lsn.toString() : null,
      ]),
    );
    return sql`insert into ${inst} (id, mapping, key, external_id, version, lane, dirty_since, first_commit_at, priority, source_update_ms, floor_unknown, hold_lsn)
      select e ->> 0, e ->> 1, e -> 2, e ->> 3, 1, (e ->> 6)::smallint, now(), ${commitTime}::timestamptz, (e ->> 4)::bigint, (e ->> 5)::bigint,
        (e ->> 6)::smallint = ${LANE_BACKFILL}, (e ->> 7)::bigint
      from jsonb_array_elements(${doc}::jsonb) as e
      on conflict (id) do update set
        version = ${inst}.version + 1,
        hold_lsn = greatest(${inst}.hold_lsn, excluded.hold_lsn),
        -- Priority orders the backfill lane only; the other lanes order by the time of entry.
        priority = case when least(${inst}.lane, excluded.lane) = ${LANE_BACKFILL}::smallint
          then greatest(${inst}.priority, excluded.priority) else 0 end,
        source_update_ms = greatest(${inst}.source_update_ms, excluded.source_update_ms),
        lane = least(${inst}.lane, excluded.lane),
        -- The time the instance entered its lane: kept while it waits there, reset when it becomes
        -- dirty or moves up a lane, so one promoted from the backfill queues behind live changes
        -- already waiting instead of overtaking them with the copy's time.
        dirty_since = case when ${inst}.version > ${inst}.synced_version and ${inst}.lane <= excluded.lane
          then ${inst}.dirty_since else now() end,
        first_commit_at = case when ${inst}.version > ${inst}.synced_version and ${inst}.first_commit_at is not null
          then ${inst}.first_commit_at else excluded.first_commit_at end,
        -- A new change un-parks (the new rows may map), but an instance in backoff keeps its attempts
        -- and its next attempt: the backoff of a failing push must not restart with every change.
        -- Except a change the replica could not store (change-parking.ts): the replica lacks it, so
        -- the instance stays parked until someone looks (\`parked retry\` pushes what the replica has).
        attempts = case when ${inst}.parked_at is not null and ${inst}.last_error_code is distinct from 'REPLICA_WRITE'
          then 0 else ${inst}.attempts end,
        parked_at = case when ${inst}.last_error_code = 'REPLICA_WRITE' then ${inst}.parked_at end,
        parked_reason = case when ${inst}.last_error_code = 'REPLICA_WRITE' then ${inst}.parked_reason end,
        next_attempt_at = case when ${inst}.parked_at is not null then null else ${inst}.next_attempt_at end
      ${
        unpushedOnly
          ? sql`where not (${inst}.version > ${inst}.synced_version and ${inst}.lane = excluded.lane
        and ${inst}.priority >= excluded.priority and ${inst}.source_update_ms >= excluded.source_update_ms
        and (${inst}.first_commit_at is not null or excluded.first_commit_at is null)
        and ${inst}.parked_at is null and ${inst}.parked_reason is null)`
          : sql``
      }`;
  }

  /**
   * Gives the planner the table's size and value distribution. A copy fills a table autovacuum has
   * not looked at yet; on such stale statistics (8 rows estimated, 10,000 present) the sync stage's
   * claims scanned every dirty instance and sorted them, 12 ms a claim instead of 0.6
   * (docs/benchmarks.md), and a first load leaves hundreds of thousands to claim.
   */
  async analyze(): Promise<void> {
    await this.statistics.analyze();
  }

  /** A new slot streams from now on: no transaction of the old one will commit through it. */
  async clearStreamHolds(): Promise<void> {
    await sql`update ${this.t} set hold_lsn = null where hold_lsn is not null`.execute(this.db);
  }

  /**
   * Whether rows read for a push of `version` are whole transactions: the instance is at that version
   * still and not held. Asked after the rows are read, so a hold taken meanwhile is seen.
   */
  async isPushable(id: string, version: bigint): Promise<boolean> {
    const { rows } = await sql<{ ok: boolean }>`select true as ok from ${this.t} i
      where id = ${id} and version = ${version.toString()}::bigint and ${this.held.notHeld('i')}`.execute(
      this.db,
    );
    return rows.length > 0;
  }

  /** Which of `ids` wait in the live lane (dirty, not parked). */
  async waitingLive(db: Kysely<StateDb>, ids: readonly string[]): Promise<Set<string>> {
    const { rows } = await sql<{ id: string }>`select id from ${this.t}
      where id = any(${ids}::text[]) and lane = ${LANE_LIVE}::smallint and version > synced_version`.execute(
      db,
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Moves instances still waiting in the live lane to `lane` (a transaction found to be bulk after
   * its first batches put them there), queued by the time they enter it.
   */
  async demote(db: Kysely<StateDb>, ids: readonly string[], lane: number): Promise<void> {
    await sql`update ${this.t} set lane = ${lane}::smallint, dirty_since = now(), priority = 0
      where id = any(${ids}::text[]) and lane = ${LANE_LIVE}::smallint and version > synced_version`.execute(
      db,
    );
  }

  /** Ids of every instance (of `mapping`, if given). */
  async ids(mapping: string | null): Promise<string[]> {
    const { rows } = await sql<{
      id: string;
    }>`select id from ${this.t} where (${mapping}::text is null or mapping = ${mapping})`.execute(this.db);
    return rows.map((r) => r.id);
  }

  /**
   * Resync: marks instances for another push in `lane` (backfill; the console's "push again" uses
   * live, a person waits for it), clearing their parking; returns how many exist.
   */
  async requeue(ids: readonly string[], lane: number = LANE_BACKFILL): Promise<number> {
    let marked = 0;
    for (let i = 0; i < ids.length; i += 5000) {
      const res = await sql`update ${this.t} set version = version + 1, lane = ${lane}::smallint,
          dirty_since = case when version > synced_version then dirty_since else now() end,
          parked_at = null, parked_reason = null, attempts = 0, next_attempt_at = null,
          accepted_digest = null
        where id = any(${ids.slice(i, i + 5000)}::text[])`.execute(this.db);
      marked += Number(res.numAffectedRows ?? 0);
    }
    return marked;
  }

  /** Reconciler: marks synced instances Feishu does not hold as sent for another push. */
  async requeueSynced(ids: readonly string[]): Promise<void> {
    await sql`update ${this.t} set version = version + 1, lane = ${LANE_BACKFILL}::smallint, dirty_since = now(),
          accepted_digest = null
        where id = any(${ids}::text[]) and version = synced_version`.execute(this.db);
  }

  /** Initial load: marks the backfill instances outside the selection as synced; returns how many. */
  async skipBackfill(s: BackfillSelection): Promise<number> {
    const res = await sql`update ${this.t} set synced_version = version, first_commit_at = null
    where lane = ${LANE_BACKFILL}::smallint and version > synced_version and not (
      ${s.mode !== 'none'}
      and (${s.mode !== 'open'} or priority >= ${OPEN_PRIORITY.toString()}::bigint)
      and (${s.sinceMs}::bigint is null or source_update_ms >= ${s.sinceMs}::bigint)
      and (${s.keep === null} or id = any(${s.keep ?? []}::text[])))`.execute(this.db);
    return Number(res.numAffectedRows ?? 0);
  }

  /** Instances synced within `windowMs` and unchanged since, newest first (for the reconciler). */
  async recentlySynced(windowMs: number, limit: number): Promise<InstanceRecord[]> {
    const { rows } =
      await sql<RecordRow>`select id, mapping, key, external_id, last_update_time from ${this.t}
      where synced_at > now() - make_interval(secs => ${windowMs / 1000}) and version = synced_version and parked_at is null
      order by synced_at desc limit ${limit}`.execute(this.db);
    return rows.map(recordOf);
  }

  /** Whether the table exists (a state database never set up has none; read-only commands say so). */
  async exists(): Promise<boolean> {
    const { rows } = await sql<{
      t: string | null;
    }>`select to_regclass(${`"${this.schema}"."instance"`})::text as t`.execute(this.db);
    return Boolean(rows[0]?.t);
  }

  /** The records of an instance id, or of every instance with this external id (in id order). */
  async records(by: { id: string } | { externalId: string }): Promise<InstanceRecord[]> {
    const { rows } =
      'id' in by
        ? await sql<RecordRow>`select id, mapping, key, external_id, last_update_time::text from ${this.t}
            where id = ${by.id}`.execute(this.db)
        : await sql<RecordRow>`select id, mapping, key, external_id, last_update_time::text from ${this.t}
            where ${externalIdIs(by.externalId)} order by id`.execute(this.db);
    return rows.map(recordOf);
  }

  /**
   * Up to `limit` instances to push next, in queue order (lane, backfill priority, time of entry),
   * other than `exclude` (in flight); with `liveOnly`, from the live lane only (the one push slot
   * the lower lanes leave free).
   */
  async dueInstances(limit: number, exclude: readonly string[], liveOnly = false): Promise<DirtyInstance[]> {
    // Statistics from when the table was smaller make this a sort of the whole backlog.
    await this.statistics.refreshIfGrown(Date.now());
    const { rows } = await this.claimQuery(limit, exclude, liveOnly).execute(this.db);
    return rows.map((r) => ({
      id: r.id,
      ref: { mapping: r.mapping, key: r.key },
      externalId: r.external_id,
      version: BigInt(r.version),
      lane: Number(r.lane),
      lastUpdateTime: BigInt(r.last_update_time),
      attempts: Number(r.attempts),
      firstCommitAt: r.first_commit_at ? new Date(r.first_commit_at) : null,
      acceptedDigest: r.accepted_digest ?? null,
      floorUnknown: r.floor_unknown === true,
    }));
  }

  /**
   * The claim's statement (dueInstances runs it): the first `limit` dirty instances in queue order
   * that are not parked, held, backing off or in `exclude`, a walk of the instance_due index.
   */
  claimQuery(limit: number, exclude: readonly string[], liveOnly = false) {
    return sql<
      Row<
        | 'id'
        | 'mapping'
        | 'key'
        | 'external_id'
        | 'version'
        | 'lane'
        | 'last_update_time'
        | 'attempts'
        | 'first_commit_at'
        | 'accepted_digest'
        | 'floor_unknown'
      >
    >`
      select id, mapping, key, external_id, version, lane, last_update_time, attempts, first_commit_at,
        accepted_digest, floor_unknown
      from ${this.t} i
      where version > synced_version and parked_at is null and ${this.held.notHeld('i')}
        and (next_attempt_at is null or next_attempt_at <= now())
        and not (id = any(${exclude}::text[]))
        ${liveOnly ? sql`and lane = ${LANE_LIVE}::smallint` : sql``}
      order by lane, priority desc, dirty_since
      limit ${limit}`;
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
   * Due instances first seen in a snapshot copy and not asked about yet, other than `exclude`: those
   * whose update_time Feishu may hold from another state database.
   */
  async unknownToFeishu(
    limit: number,
    exclude: readonly string[],
  ): Promise<{ id: string; externalId: string }[]> {
    const { rows } = await sql<{ id: string; external_id: string }>`select id, external_id from ${this.t}
      where version > synced_version and parked_at is null and floor_unknown
        and not (id = any(${exclude}::text[]))
      order by lane, priority desc, dirty_since limit ${limit}`.execute(this.db);
    return rows.map((r) => ({ id: r.id, externalId: r.external_id }));
  }

  /** Records the update_time Feishu holds for each instance (0: none) as the floor of its next push. */
  async raiseUpdateTime(held: readonly { id: string; updateTime: bigint }[]): Promise<void> {
    if (held.length === 0) return;
    // Locked in id order first, as the replica writer bumps them: a join updates rows in whatever
    // order its plan gives, and two such writers on the same instances can deadlock.
    const ids = held.map((h) => h.id);
    await this.db.transaction().execute(async (trx) => {
      await sql`select id from ${this.t} where id = any(${ids}::text[]) order by id for update`.execute(trx);
      await sql`update ${this.t} i set last_update_time = greatest(i.last_update_time, h.t), floor_unknown = false
        from unnest(${ids}::text[], ${held.map((h) => h.updateTime.toString())}::bigint[]) as h(id, t)
        where i.id = h.id`.execute(trx);
    });
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

  /** Ends the backoff of instances whose last failure had one of `codes` (an outage that ended). */
  async clearBackoff(codes: readonly string[]): Promise<void> {
    if (codes.length === 0) return;
    await sql`update ${this.t} set next_attempt_at = null
      where attempts > 0 and parked_at is null and next_attempt_at > now() and last_error_code = any(${codes}::text[])`.execute(
      this.db,
    );
  }

  async park(id: string, reason: string, code: string): Promise<void> {
    await sql`update ${this.t} set parked_at = now(), parked_reason = ${reason}, attempts = attempts + 1,
        last_error = ${reason}, last_error_code = ${code}, parked_class = ${REASON_CLASS(sql`${reason}::text`)}
      where id = ${id}`.execute(this.db);
  }

  /** Parks `ids` with one reason, in the caller's transaction `db`; returns how many exist. */
  async parkMany(db: Kysely<StateDb>, ids: readonly string[], reason: string, code: string): Promise<number> {
    const res =
      await sql`update ${this.t} set parked_at = now(), parked_reason = ${reason}, attempts = attempts + 1,
        last_error = ${reason}, last_error_code = ${code}, parked_class = ${REASON_CLASS(sql`${reason}::text`)}
      where id = any(${ids}::text[])`.execute(db);
    return Number(res.numAffectedRows ?? 0);
  }

  /** Un-parks instances (all, or those whose external id is listed) so they are tried again now. */
  async retryParked(externalIds: readonly string[] | 'all'): Promise<number> {
    const res =
      await sql`update ${this.t} set parked_at = null, parked_reason = null, attempts = 0, next_attempt_at = null
      where parked_at is not null and ${this.whichParked(externalIds)}`.execute(this.db);
    return Number(res.numAffectedRows ?? 0);
  }

  /** All, or the listed external ids (a plain `= any` the planner answers from its index). */
  private whichParked(externalIds: readonly string[] | 'all'): RawBuilder<unknown> {
    return externalIds === 'all' ? sql`true` : sql`external_id = any(${externalIds}::text[])`;
  }

  /** Gives up on parked instances: marks their current version synced without pushing it. */
  async dropParked(externalIds: readonly string[] | 'all'): Promise<number> {
    const res = await sql`update ${this.t} set parked_at = null, parked_reason = null, attempts = 0,
        synced_version = version, first_commit_at = null
      where parked_at is not null and ${this.whichParked(externalIds)}`.execute(this.db);
    return Number(res.numAffectedRows ?? 0);
  }
}

function recordOf(r: RecordRow): InstanceRecord {
  return {
    id: r.id,
    ref: { mapping: r.mapping, key: r.key },
    externalId: r.external_id,
    lastUpdateTime: BigInt(r.last_update_time),
  };
}
