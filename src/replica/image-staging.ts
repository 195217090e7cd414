// Turns source row changes into the row images to store, given the images stored before them. Pure:
// no I/O, no clock. Invariant: an image is only replaced by one from a later LSN, so a replayed
// change stages nothing; every image a change replaces or writes is reported as touched, so the
// instances the row belonged to before and after the change are both found. An update that leaves
// every kept column as it was (a rewrite, an edit of columns no mapping reads) touches no instance
// (no mapping can tell it happened); its image is still stored with the later LSN.
import type { RowImage } from '../mapping/contract.js';
import type { Lsn } from '../core/lsn.js';
import type { ChangeValues, RowChange } from './row-change.js';

export interface Image {
  lsn: Lsn;
  deleted: boolean;
  data: Record<string, string | null>;
}

export interface StagedImage {
  table: string;
  pk: string;
  image: Image;
}

export interface Staging {
  /** Current image per `table \0 pk`: loaded ones, then staged ones over them. */
  readonly images: Map<string, Image>;
  /** The images to write, per `table \0 pk`. */
  readonly written: Map<string, StagedImage>;
  /** Row images before and after each applied change (each image object once). */
  readonly touched: { table: string; row: RowImage }[];
  readonly seen: Set<RowImage>;
  applied: number;
  skipped: number;
}

export const imageKey = (table: string, pk: string): string => `${table}\u0000${pk}`;

export function newStaging(images: Map<string, Image>): Staging {
  return { images, written: new Map(), touched: [], seen: new Set(), applied: 0, skipped: 0 };
}

/** Records a row image as touched; an image already recorded (same object) adds nothing new. */
export function touch(s: Staging, table: string, row: RowImage): void {
  if (s.seen.has(row)) return;
  s.seen.add(row);
  s.touched.push({ table, row });
}

function put(s: Staging, table: string, pk: string, image: Image, k = imageKey(table, pk)): void {
  s.images.set(k, image);
  s.written.set(k, { table, pk, image });
}

export interface TableShape {
  /** The row identity of a change's values (JSON array text), or null when a key column is missing. */
  pkOf(table: string, values: ChangeValues): string | null;
  /** Columns kept in the image of a table; undefined for a table no mapping reads. */
  keep(table: string): ReadonlySet<string> | undefined;
}

/**
 * Stages one insert, update or delete (not a truncate); `pk` is shape.pkOf of its values, `key` its
 * imageKey (given by callers that already made it: one string per change, not three).
 */
export function stageChange(
  s: Staging,
  shape: TableShape,
  change: Exclude<RowChange, { kind: 'truncate' }>,
  pk: string | null,
  key = pk === null ? null : imageKey(change.table, pk),
): void {
  const keepCols = shape.keep(change.table);
  if (!keepCols) return;
  if (change.kind === 'upsert' && change.oldKey) {
    // The key changed: the row under its old key is gone.
    const oldPk = shape.pkOf(change.table, change.oldKey);
    if (oldPk && oldPk !== pk) {
      const old = s.images.get(imageKey(change.table, oldPk));
      if (!old || old.lsn < change.lsn) {
        const data = old?.data ?? pickDefined(change.oldKey);
        put(s, change.table, oldPk, { lsn: change.lsn, deleted: true, data });
        touch(s, change.table, data);
      }
    }
  }
  if (!pk || key === null) {
    s.skipped++;
    return;
  }
  const existing = s.images.get(key);
  if (existing && existing.lsn >= change.lsn) {
    s.skipped++;
    return;
  }
  if (change.kind === 'delete') {
    if (existing && !existing.deleted) touch(s, change.table, existing.data);
    const data = existing?.data ?? pickDefined(change.values);
    put(s, change.table, pk, { lsn: change.lsn, deleted: true, data }, key);
    touch(s, change.table, data);
  } else {
    const data = keptValues(change.values, keepCols, existing);
    if (existing && !existing.deleted && sameValues(existing.data, data)) {
      // Still stored with its new LSN: a re-snapshot's sweep drops images the copy did not refresh,
      // and the image horizon must cover it. No instance is touched.
      put(s, change.table, pk, { lsn: change.lsn, deleted: false, data }, key);
      s.applied++;
      return;
    }
    if (existing && !existing.deleted) touch(s, change.table, existing.data);
    put(s, change.table, pk, { lsn: change.lsn, deleted: false, data }, key);
    touch(s, change.table, data);
  }
  s.applied++;
}

/**
 * The image of an upsert: the kept columns, an unchanged TOAST value (not sent) taken from the image
 * before. When every column is kept and sent, the decoded values are the image (no copy: images are
 * never mutated).
 */
function keptValues(
  values: ChangeValues,
  keepCols: ReadonlySet<string>,
  existing: Image | undefined,
): Record<string, string | null> {
  let whole = true;
  for (const col in values) {
    if (values[col] === undefined || !keepCols.has(col)) {
      whole = false;
      break;
    }
  }
  if (whole) return values as Record<string, string | null>;
  const data: Record<string, string | null> = {};
  for (const col in values) {
    if (!keepCols.has(col)) continue;
    const value = values[col];
    if (value === undefined) {
      const prior = existing?.data[col];
      if (prior !== undefined) data[col] = prior;
    } else {
      data[col] = value;
    }
  }
  return data;
}

function sameValues(a: Record<string, string | null>, b: Record<string, string | null>): boolean {
  let n = 0;
  for (const col in a) {
    if (a[col] !== b[col]) return false;
    n++;
  }
  for (const _col in b) n--;
  return n === 0;
}

function pickDefined(values: ChangeValues): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = v;
  return out;
}
