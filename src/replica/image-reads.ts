// Reads the images a batch's changes need: from the batches staged but not yet committed (kept here
// from staging until their commit), else from row_image, else not at all for an insert beyond the
// session's image horizon (replica-writer.ts says why that is safe). Invariant: an image staged by a
// batch of the current generation wins over the database until that batch commits or the writer
// fails, and only the batch that staged an image forgets it.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import type { Lsn } from '../core/lsn.js';
import { imageKey, type Image, type StagedImage } from './image-staging.js';
import type { ChangeValues, RowChange } from './row-change.js';
import { imageKeyMatch } from './index-keys.js';

/** Staged images of batches not yet committed, with the batch (seq) and writer generation they belong to. */
interface InFlightImage {
  image: Image;
  seq: number;
  generation: number;
}

export class ImageReads {
  private readonly staged = new Map<string, InFlightImage>();
  /** The image horizon of the current generation (null: inserts read their images as any change). */
  private horizon: Lsn | null = null;
  private horizonGeneration = -1;

  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
    private readonly slot: string,
    private readonly pkOf: (table: string, values: ChangeValues) => string | null,
  ) {}

  /** The image horizon of a writer generation, read once per generation. */
  async horizonOf(generation: number): Promise<Lsn | null> {
    if (this.horizonGeneration !== generation) {
      this.horizon = await this.loadHorizon();
      this.horizonGeneration = generation;
    }
    return this.horizon;
  }

  /** Keeps a staged batch's images for the batches staged after it, until it commits. */
  keep(written: ReadonlyMap<string, StagedImage>, seq: number, generation: number): void {
    for (const [k, w] of written) this.staged.set(k, { image: w.image, seq, generation });
  }

  /** Batch `seq` committed: its images are in the database. */
  forget(written: ReadonlyMap<string, StagedImage>, seq: number): void {
    for (const k of written.keys()) {
      if (this.staged.get(k)?.seq === seq) this.staged.delete(k);
    }
  }

  /** A batch failed, or the stream starts over: nothing staged will commit. */
  clear(): void {
    this.staged.clear();
  }

  /**
   * Current images of the rows the changes name. With a generation (the pipelined path), images
   * staged by batches not yet committed win over the database; they are taken before the read, so
   * one released meanwhile was committed before the read began. An insert beyond `horizon` is not
   * read from the database (see the header): its key goes into `unread`.
   */
  async read(
    db: Kysely<StateDb>,
    changes: readonly RowChange[],
    changePks: readonly (string | null)[],
    changeKeys: readonly (string | null)[],
    generation: number | null,
    horizon: Lsn | null,
    unread?: Set<string>,
  ): Promise<Map<string, Image>> {
    const images = new Map<string, Image>();
    const asked = new Set<string>();
    const tbls: string[] = [];
    const pks: string[] = [];
    const want = (table: string, pk: string | null, k: string | null, unstored: boolean) => {
      if (!pk || k === null) return;
      if (asked.has(k)) return;
      asked.add(k);
      const staged = generation === null ? undefined : this.staged.get(k);
      if (staged && staged.generation === generation) {
        images.set(k, staged.image);
        return;
      }
      if (unstored) {
        unread?.add(k);
        return;
      }
      tbls.push(table);
      pks.push(pk);
    };
    changes.forEach((change, i) => {
      if (change.kind === 'truncate') return;
      const unstored =
        horizon !== null && change.kind === 'upsert' && change.fresh === true && change.lsn > horizon;
      want(change.table, changePks[i] ?? null, changeKeys[i] ?? null, unstored);
      if (change.kind === 'upsert' && change.oldKey) {
        const oldPk = this.pkOf(change.table, change.oldKey);
        want(change.table, oldPk, oldPk === null ? null : imageKey(change.table, oldPk), false);
      }
    });
    if (pks.length === 0) return images;
    // One primary-key probe per key, whatever the statistics say: as a plain join, a batch of 1,000
    // keys against a replica of 20,000 rows was planned as a hash join over a full scan (13 ms
    // against 4 ms), and the scan grows with the replica until the plan flips.
    const { rows } = await sql<{
      tbl: string;
      pk: string;
      lsn: string;
      deleted: boolean;
      data: Record<string, string | null>;
    }>`
      select r.tbl, r.pk, r.lsn, r.deleted, r.data from unnest(${tbls}::text[], ${pks}::text[]) as k(tbl, pk)
      cross join lateral (select tbl, pk, lsn, deleted, data from ${sql.id(this.schema, 'row_image')} i
        where i.tbl = k.tbl and ${sql.raw(imageKeyMatch('i.pk', 'k.pk'))}
        limit 1) r`.execute(db);
    for (const row of rows) {
      const k = imageKey(row.tbl, row.pk);
      if (!images.has(k)) images.set(k, { lsn: BigInt(row.lsn), deleted: row.deleted, data: row.data });
    }
    return images;
  }

  /**
   * The image horizon for a session, read before its first batch is staged. Only once streaming:
   * the snapshot copy writes images concurrently. Computed from row_image the first time (one scan
   * per slot), when no other transaction writes images.
   */
  private async loadHorizon(): Promise<Lsn | null> {
    const t = sql.id(this.schema, 'checkpoint');
    await sql`update ${t} set image_lsn = (select coalesce(max(lsn), 0) from ${sql.id(this.schema, 'row_image')})
      where slot = ${this.slot} and phase = 'streaming' and image_lsn is null`.execute(this.db);
    const { rows } = await sql<{ image_lsn: string | null }>`select image_lsn::text from ${t}
      where slot = ${this.slot} and phase = 'streaming'`.execute(this.db);
    const lsn = rows[0]?.image_lsn;
    return lsn === undefined || lsn === null ? null : BigInt(lsn);
  }
}
