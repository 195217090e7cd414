// Owns the text of the replica writer's statements: row images, instance versions and the
// checkpoint row. Pure: builds statements, runs none. Invariant: an image statement never replaces
// an image by one from an earlier LSN, and the version bump locks instance rows in id order.
import { sql, type RawBuilder } from 'kysely';
import type { InstanceRef } from '../mapping/contract.js';
import type { Lsn } from '../source/lsn.js';
import type { StagedImage } from './image-staging.js';
import type { ChangeBatch } from './row-change.js';

/** Where a write leaves the source: the end of its last complete transaction, if any. */
export type Commit = Pick<ChangeBatch, 'endLsn' | 'commitTime'>;
export const NO_COMMIT: Commit = { endLsn: null, commitTime: null };

/** Backfill order of an instance (see OPEN_PRIORITY) and its own update time. */
export interface Priority {
  priority: bigint;
  updateMs: number;
}

export class ReplicaStatements {
  constructor(
    private readonly schema: string,
    private readonly slot: string,
    private readonly externalId: (ref: InstanceRef) => string,
  ) {}

  private t(name: string) {
    return sql.id(this.schema, name);
  }

  /** Writes the images of a document, each only over an image from an earlier LSN. */
  upsertImages(doc: string): RawBuilder<unknown> {
    return sql`insert into ${this.t('row_image')} (tbl, pk, lsn, deleted, data) ${imageRows(doc)}
      on conflict (tbl, pk) do update set lsn = excluded.lsn, deleted = excluded.deleted, data = excluded.data
      where ${this.t('row_image')}.lsn < excluded.lsn`;
  }

  /** Writes the images of a document whose keys have no stored image (fails with 23505 otherwise). */
  insertImages(doc: string): RawBuilder<unknown> {
    return sql`insert into ${this.t('row_image')} (tbl, pk, lsn, deleted, data) ${imageRows(doc)}`;
  }

  /**
   * Moves the checkpoint to the commit's end (when it has one) and raises the image horizon to
   * `imageLsn` (an unknown horizon stays unknown until the writer computes it).
   */
  checkpoint(batch: Commit, imageLsn: Lsn | null): RawBuilder<unknown> | null {
    if (batch.endLsn === null && imageLsn === null) return null;
    const end = batch.endLsn === null ? null : batch.endLsn.toString();
    const image = imageLsn === null ? null : imageLsn.toString();
    return sql`update ${this.t('checkpoint')} set lsn = greatest(lsn, ${end}::bigint),
      image_lsn = case when image_lsn is null then null else greatest(image_lsn, ${image}::bigint) end,
      last_commit_at = case when ${end}::bigint is null then last_commit_at else coalesce(${batch.commitTime}, last_commit_at) end,
      updated_at = now()
      where slot = ${this.slot}`;
  }

  /** The statement that bumps the versions of `refs` (null when there are none). */
  bump(
    refs: Map<string, InstanceRef>,
    lane: number,
    commitTime: Date | null,
    priorities: ReadonlyMap<string, Priority>,
  ): RawBuilder<unknown> | null {
    if (refs.size === 0) return null;
    // Rows are locked in id order, as the sync stage does, so concurrent writers cannot deadlock.
    const part = [...refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const inst = this.t('instance');
    // A parked instance whose rows change is tried again by itself: the change clears the parking.
    // One JSON document of rows rather than six array literals: pg builds those by string
    // concatenation and escaping, a tenth of the connector's garbage during catch-up.
    const doc = JSON.stringify(
      part.map(([id, r]) => [
        id,
        r.mapping,
        r.key,
        this.externalId(r),
        (priorities.get(id)?.priority ?? 0n).toString(),
        String(priorities.get(id)?.updateMs ?? 0),
      ]),
    );
    return sql`insert into ${inst} (id, mapping, key, external_id, version, lane, dirty_since, first_commit_at, priority, source_update_ms)
      select e ->> 0, e ->> 1, e -> 2, e ->> 3, 1, ${lane}::smallint, now(), ${commitTime}::timestamptz, (e ->> 4)::bigint, (e ->> 5)::bigint
      from jsonb_array_elements(${doc}::jsonb) as e
      on conflict (id) do update set
        version = ${inst}.version + 1,
        -- Priority orders the backfill lane only; a live change orders by waiting time.
        priority = case when excluded.lane = 0 then 0 else greatest(${inst}.priority, excluded.priority) end,
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
        attempts = case when ${inst}.parked_at is not null then 0 else ${inst}.attempts end,
        parked_at = null, parked_reason = null,
        next_attempt_at = case when ${inst}.parked_at is not null then null else ${inst}.next_attempt_at end`;
  }
}

/**
 * The images as JSON documents of up to 5000 rows, each row an array [tbl, pk, lsn, deleted, data]
 * (see imageRows): far cheaper to build and parse than array literals, and than objects (a one-off
 * micro-benchmark, not kept in bench/: 1,000 images took 0.7 ms to build and 10 ms to insert,
 * against 0.85 and 12 ms as objects).
 */
export function imageDocs(rows: Iterable<StagedImage>): string[] {
  const docs: string[] = [];
  let doc: unknown[][] = [];
  for (const r of rows) {
    doc.push([r.table, r.pk, r.image.lsn.toString(), r.image.deleted, r.image.data]);
    if (doc.length === 5000) {
      docs.push(JSON.stringify(doc));
      doc = [];
    }
  }
  if (doc.length > 0) docs.push(JSON.stringify(doc));
  return docs;
}

/** The rows of an image document (imageDocs), as the columns of row_image. */
function imageRows(doc: string): RawBuilder<unknown> {
  return sql`select e ->> 0 as tbl, e ->> 1 as pk, (e ->> 2)::bigint as lsn, (e ->> 3)::boolean as deleted, e -> 4 as data
    from jsonb_array_elements(${doc}::jsonb) as e`;
}
