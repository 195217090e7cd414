// The only writer of row images, instance versions and the checkpoint. Invariants:
// - one state transaction per batch: images, versions and the checkpoint commit together, so the
//   checkpoint never covers a change that is not in the replica (DESIGN invariant 1);
// - an image is only replaced by one from a later LSN, so a replayed transaction changes nothing
//   and dirties no instance (invariant 4);
// - every instance a changed row belonged to before or after the change, directly or through a
//   lookup, gets its version bumped (invariant 3 starts here).
import { sql, type Kysely } from 'kysely';
import type { InstanceRef, MappingSet, RowImage, RowQuery } from '../mapping/contract.js';
import type { Lsn } from '../source/lsn.js';
import type { ChangeBatch, ChangeValues, RowChange } from './row-change.js';
import { queryRows } from './row-query.js';

export const LANE_LIVE = 0;
export const LANE_BACKFILL = 1;

interface Image {
  lsn: Lsn;
  deleted: boolean;
  data: Record<string, string | null>;
}

export interface ApplySummary {
  applied: number;
  skipped: number;
  instancesDirtied: number;
}

/** Backfill priority: open approvals above closed ones, newer above older. */
export const OPEN_PRIORITY = 10_000_000_000_000n;

export function instanceIdOf(ref: InstanceRef): string {
  return JSON.stringify([ref.mapping, ...ref.key]);
}

export class ReplicaWriter {
  private readonly keep = new Map<string, Set<string>>();

  constructor(
    private readonly db: Kysely<any>,
    private readonly schema: string,
    private readonly mappings: MappingSet,
    private readonly tableKeys: ReadonlyMap<string, readonly string[]>,
    private readonly slot: string,
  ) {
    for (const [table, use] of mappings.tables) {
      this.keep.set(table, new Set([...use.columns, ...(tableKeys.get(table) ?? [])]));
    }
  }

  private t(name: string) {
    return sql.id(this.schema, name);
  }

  pkOf(table: string, values: ChangeValues): string | null {
    const cols = this.tableKeys.get(table);
    if (!cols || cols.length === 0) return null;
    const key: (string | null)[] = [];
    for (const c of cols) {
      const v = values[c];
      if (v === undefined) return null;
      key.push(v);
    }
    return JSON.stringify(key);
  }

  /** Applies a batch of source changes and moves the checkpoint, in one state transaction. */
  async applyBatch(batch: ChangeBatch, lane = LANE_LIVE): Promise<ApplySummary> {
    return this.db.transaction().execute(async (trx) => {
      const summary = await this.applyChanges(trx, batch.changes, lane, batch.commitTime);
      if (batch.endLsn !== null) {
        await sql`update ${this.t('checkpoint')} set lsn = greatest(lsn, ${batch.endLsn.toString()}::bigint),
          last_commit_at = coalesce(${batch.commitTime}, last_commit_at), updated_at = now()
          where slot = ${this.slot}`.execute(trx);
      }
      return summary;
    });
  }

  /**
   * Rows copied under a snapshot taken at `snapshotLsn` (the slot's consistent point): they carry
   * snapshotLsn - 1, so they replace images from before the snapshot and never one the stream wrote.
   */
  async applySnapshotRows(table: string, rows: readonly Record<string, string | null>[], snapshotLsn: Lsn): Promise<number> {
    const changes: RowChange[] = rows.map((values) => ({ kind: 'upsert', table, lsn: snapshotLsn - 1n, values }));
    const summary = await this.db.transaction().execute((trx) => this.applyChanges(trx, changes, LANE_BACKFILL, null));
    return summary.applied;
  }

  /** After a re-snapshot: rows the copy did not refresh no longer exist at the snapshot. */
  async sweepStale(table: string, snapshotLsn: Lsn): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const gone = await this.truncateTable(trx, table, snapshotLsn - 1n);
      const refs = await this.affectedInstances(trx, gone.map((row) => ({ table, row })));
      await this.bumpInstances(trx, refs, LANE_BACKFILL, null);
      return gone.length;
    });
  }

  private async applyChanges(
    trx: Kysely<any>,
    changes: readonly RowChange[],
    lane: number,
    commitTime: Date | null,
  ): Promise<ApplySummary> {
    const images = await this.loadImages(trx, changes);
    const written = new Map<string, { table: string; pk: string; image: Image }>();
    const touched: { table: string; row: RowImage }[] = [];
    let applied = 0;
    let skipped = 0;

    const put = (table: string, pk: string, image: Image) => {
      const k = `${table}\u0000${pk}`;
      images.set(k, image);
      written.set(k, { table, pk, image });
    };

    for (const change of changes) {
      if (change.kind === 'truncate') {
        // Rows changed earlier in this batch are only in memory yet: store them first, so the
        // truncate sees them, and forget their in-memory images as live.
        await this.writeImages(trx, [...written.values()]);
        written.clear();
        const prefix = `${change.table}\u0000`;
        for (const [k, img] of images) {
          if (k.startsWith(prefix) && !img.deleted && img.lsn < change.lsn) images.set(k, { ...img, deleted: true, lsn: change.lsn });
        }
        for (const row of await this.truncateTable(trx, change.table, change.lsn)) touched.push({ table: change.table, row });
        applied++;
        continue;
      }
      const keepCols = this.keep.get(change.table);
      if (!keepCols) continue;
      if (change.kind === 'upsert' && change.oldKey) {
        const oldPk = this.pkOf(change.table, change.oldKey);
        const newPk = this.pkOf(change.table, change.values);
        if (oldPk && oldPk !== newPk) {
          const old = images.get(`${change.table}\u0000${oldPk}`);
          if (!old || old.lsn < change.lsn) {
            const data = old?.data ?? pickDefined(change.oldKey);
            put(change.table, oldPk, { lsn: change.lsn, deleted: true, data });
            touched.push({ table: change.table, row: data });
          }
        }
      }
      const pk = this.pkOf(change.table, change.values);
      if (!pk) {
        skipped++;
        continue;
      }
      const existing = images.get(`${change.table}\u0000${pk}`);
      if (existing && existing.lsn >= change.lsn) {
        skipped++;
        continue;
      }
      if (existing && !existing.deleted) touched.push({ table: change.table, row: existing.data });
      if (change.kind === 'delete') {
        const data = existing?.data ?? pickDefined(change.values);
        put(change.table, pk, { lsn: change.lsn, deleted: true, data });
        touched.push({ table: change.table, row: data });
      } else {
        const data: Record<string, string | null> = {};
        for (const [col, value] of Object.entries(change.values)) {
          if (!keepCols.has(col)) continue;
          if (value === undefined) {
            const prior = existing?.data[col];
            if (prior !== undefined) data[col] = prior;
          } else {
            data[col] = value;
          }
        }
        put(change.table, pk, { lsn: change.lsn, deleted: false, data });
        touched.push({ table: change.table, row: data });
      }
      applied++;
    }

    await this.writeImages(trx, [...written.values()]);
    const refs = await this.affectedInstances(trx, touched);
    const priorities = new Map<string, { priority: bigint; updateMs: number }>();
    if (lane === LANE_BACKFILL && this.mappings.instanceRank) {
      for (const { table, image } of written.values()) {
        const rank = image.deleted ? null : this.mappings.instanceRank(table, image.data);
        if (rank) {
          priorities.set(instanceIdOf(rank.ref), { priority: (rank.open ? OPEN_PRIORITY : 0n) + BigInt(rank.startMs), updateMs: rank.updateMs });
        }
      }
    }
    await this.bumpInstances(trx, refs, lane, commitTime, priorities);
    return { applied, skipped, instancesDirtied: refs.size };
  }

  private async loadImages(trx: Kysely<any>, changes: readonly RowChange[]): Promise<Map<string, Image>> {
    const tbls: string[] = [];
    const pks: string[] = [];
    for (const change of changes) {
      if (change.kind === 'truncate') continue;
      for (const values of change.kind === 'upsert' && change.oldKey ? [change.values, change.oldKey] : [change.values]) {
        const pk = this.pkOf(change.table, values);
        if (pk) {
          tbls.push(change.table);
          pks.push(pk);
        }
      }
    }
    const images = new Map<string, Image>();
    if (pks.length === 0) return images;
    const { rows } = await sql<{ tbl: string; pk: string; lsn: string; deleted: boolean; data: Record<string, string | null> }>`
      select r.tbl, r.pk, r.lsn, r.deleted, r.data from ${this.t('row_image')} r
      join unnest(${tbls}::text[], ${pks}::text[]) as k(tbl, pk) on r.tbl = k.tbl and r.pk = k.pk`.execute(trx);
    for (const row of rows) images.set(`${row.tbl}\u0000${row.pk}`, { lsn: BigInt(row.lsn), deleted: row.deleted, data: row.data });
    return images;
  }

  private async writeImages(trx: Kysely<any>, rows: { table: string; pk: string; image: Image }[]): Promise<void> {
    const chunk = 5000;
    for (let i = 0; i < rows.length; i += chunk) {
      // One JSON document for the whole chunk: far cheaper to build and to parse than array literals.
      const doc = JSON.stringify(
        rows.slice(i, i + chunk).map((r) => ({ tbl: r.table, pk: r.pk, lsn: r.image.lsn.toString(), deleted: r.image.deleted, data: r.image.data })),
      );
      await sql`insert into ${this.t('row_image')} (tbl, pk, lsn, deleted, data)
        select tbl, pk, lsn::bigint, deleted, data
        from jsonb_to_recordset(${doc}::jsonb) as x(tbl text, pk text, lsn text, deleted boolean, data jsonb)
        on conflict (tbl, pk) do update set lsn = excluded.lsn, deleted = excluded.deleted, data = excluded.data
        where ${this.t('row_image')}.lsn < excluded.lsn`.execute(trx);
    }
  }

  private async truncateTable(trx: Kysely<any>, table: string, lsn: Lsn): Promise<RowImage[]> {
    const { rows } = await sql<{ data: Record<string, string | null> }>`
      update ${this.t('row_image')} set deleted = true, lsn = ${lsn.toString()}::bigint
      where tbl = ${table} and not deleted and lsn < ${lsn.toString()}::bigint returning data`.execute(trx);
    return rows.map((r) => r.data);
  }

  /** Instances of the touched rows, directly and through lookups (chained up to a few levels). */
  private async affectedInstances(trx: Kysely<any>, touched: { table: string; row: RowImage }[]): Promise<Map<string, InstanceRef>> {
    const refs = new Map<string, InstanceRef>();
    const seenQueries = new Set<string>();
    let frontier = touched;
    for (let depth = 0; depth < 4 && frontier.length > 0; depth++) {
      const queries: RowQuery[] = [];
      for (const { table, row } of frontier) {
        for (const ref of this.mappings.instancesOfRow(table, row)) refs.set(instanceIdOf(ref), ref);
        for (const query of this.mappings.dependentsOfRow(table, row)) {
          const qk = JSON.stringify(query);
          if (seenQueries.has(qk)) continue;
          seenQueries.add(qk);
          queries.push(query);
        }
      }
      const answers = queries.length === 0 ? [] : await queryRows(trx, this.schema, queries);
      frontier = [];
      answers.forEach((rows, i) => {
        const table = queries[i]?.table as string;
        for (const r of rows) frontier.push({ table, row: r.values });
      });
    }
    return refs;
  }

  private async bumpInstances(
    trx: Kysely<any>,
    refs: Map<string, InstanceRef>,
    lane: number,
    commitTime: Date | null,
    priorities: ReadonlyMap<string, { priority: bigint; updateMs: number }> = new Map(),
  ): Promise<void> {
    if (refs.size === 0) return;
    const list = [...refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const chunk = 5000;
    for (let i = 0; i < list.length; i += chunk) {
      const part = list.slice(i, i + chunk);
      const inst = this.t('instance');
      // A parked instance whose rows change is tried again by itself: the change clears the parking.
      await sql`insert into ${inst} (id, mapping, key, external_id, version, lane, dirty_since, first_commit_at, priority, source_update_ms)
        select id, mapping, key, external_id, 1, ${lane}::smallint, now(), ${commitTime}::timestamptz, priority, update_ms
        from unnest(${part.map(([id]) => id)}::text[], ${part.map(([, r]) => r.mapping)}::text[],
          ${part.map(([, r]) => JSON.stringify(r.key))}::jsonb[], ${part.map(([, r]) => this.mappings.externalId(r))}::text[],
          ${part.map(([id]) => (priorities.get(id)?.priority ?? 0n).toString())}::bigint[],
          ${part.map(([id]) => String(priorities.get(id)?.updateMs ?? 0))}::bigint[])
          as u(id, mapping, key, external_id, priority, update_ms)
        on conflict (id) do update set
          version = ${inst}.version + 1,
          -- Priority orders the backfill lane only; a live change orders by waiting time.
          priority = case when excluded.lane = 0 then 0 else greatest(${inst}.priority, excluded.priority) end,
          source_update_ms = greatest(${inst}.source_update_ms, excluded.source_update_ms),
          lane = least(${inst}.lane, excluded.lane),
          dirty_since = case when ${inst}.version > ${inst}.synced_version then ${inst}.dirty_since else now() end,
          first_commit_at = case when ${inst}.version > ${inst}.synced_version and ${inst}.first_commit_at is not null
            then ${inst}.first_commit_at else excluded.first_commit_at end,
          parked_at = null, parked_reason = null, attempts = 0,
          next_attempt_at = case when ${inst}.parked_at is not null then null else ${inst}.next_attempt_at end`.execute(trx);
    }
  }
}

function pickDefined(values: ChangeValues): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = v;
  return out;
}
