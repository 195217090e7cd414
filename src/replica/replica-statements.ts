// Owns the text of the replica writer's statements on row images and the checkpoint row (instance
// versions: instance-table.ts). Pure: builds statements, runs none. Invariant: an image statement
// never replaces an image by one from an earlier LSN.
import { sql, type RawBuilder } from 'kysely';
import type { Lsn } from '../core/lsn.js';
import type { StagedImage } from './image-staging.js';
import type { ChangeBatch } from './row-change.js';
import { imageKeyColumns } from './index-keys.js';

/** Where a write leaves the source: the end of its last complete transaction, if any. */
export type Commit = Pick<ChangeBatch, 'endLsn' | 'commitTime'>;
export const NO_COMMIT: Commit = { endLsn: null, commitTime: null };

export class ReplicaStatements {
  constructor(
    private readonly schema: string,
    private readonly slot: string,
  ) {}

  private t(name: string) {
    return sql.id(this.schema, name);
  }

  /** Writes the images of a document, each only over an image from an earlier LSN. */
  upsertImages(doc: string): RawBuilder<unknown> {
    return sql`insert into ${this.t('row_image')} (tbl, pk, lsn, deleted, data) ${imageRows(doc)}
      on conflict (${sql.raw(imageKeyColumns())}) do update set lsn = excluded.lsn, deleted = excluded.deleted, data = excluded.data
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
