// Writes the snapshot copy into the replica a chunk at a time: the source's COPY text streams
// through `COPY ... FROM STDIN` into a temporary staging table, one set-based statement merges it
// into row_image, and the instances the changed rows belong to are bumped in the backfill lane, with
// the table's progress, in the same state transaction. Invariants (those of the row-by-row path,
// replica-writer.ts applySnapshotRows, set-wise):
// - a copied image (at the copy's LSN) only replaces an image from an earlier LSN: every image the
//   stream wrote wins;
// - the instances of every image written that differs from the one it replaced (or is new) are
//   bumped, through lookups of any depth, and an unchanged image bumps nothing; in a first load
//   (nothing pushed yet, nothing pushed until it ends) a bump leaves an instance that is already
//   dirty as it is, unless it raises its priority (InstanceTable.bump, unpushedOnly), and an
//   instance named only by children it would leave as it is is not sent to the bump at all;
// - a first load follows no lookups: every mapped table is copied, so an instance whose payload reads
//   a copied row through a lookup is bumped by its own rows, before or after (initial-load.ts copies
//   it without the lookup indexes);
// - a chunk's images, its bumps and its progress commit together, so a copy killed anywhere
//   resumes after the last committed chunk and dirties nothing twice or never;
// - memory per chunk is one line plus a few small identities per row (keys and instance ids) when
//   the chunk may meet stored images, per instance when it cannot (a first load), never the rows
//   themselves; a chunk that meets stored images after all is rolled back and read again (ChunkRetry).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Kysely, PostgresDialect, sql, type PostgresPool } from 'kysely';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { StateDb } from './state-schema.js';
import {
  rowQueryKey,
  type InstanceRef,
  type MappingSet,
  type RowImage,
  type RowQuery,
} from '../mapping/contract.js';
import type { Lsn } from '../core/lsn.js';
import type { RangeProgress, TableProgress } from '../core/copy-progress.js';
import { CopyRowStream } from './copy-row-stream.js';
import { DirtySetFinder } from './dirty-set.js';
import { InstanceTable, type Priority } from './instance-table.js';
import { instanceIdOf, LANE_BACKFILL, OPEN_PRIORITY } from './instance-vocabulary.js';
import { jsonKey } from './json-key.js';
import { NO_COMMIT, ReplicaStatements } from './replica-statements.js';
import { imageKeyColumns, imageKeyMatch, sqlLiteral } from './index-keys.js';

/** One table as the copy reads it: `columns` in the order its COPY prints them. */
export interface CopyTable {
  table: string;
  columns: readonly string[];
  keyColumns: readonly string[];
}

interface Prior {
  pk: string;
  kind: 'skip' | 'same' | 'changed';
  old: RowImage | null;
}

export interface ChunkResult {
  rows: number;
  lastKey: (string | null)[] | null;
}

/**
 * What a chunk saves of the copy's progress: its table's whole entry, or (a table copied in key
 * ranges by several workers at once) its range's entry and the rows it adds to the table's count,
 * so that concurrent chunks of one table never overwrite each other's progress.
 */
export type ProgressWrite =
  { table: TableProgress } | { range: number; progress: RangeProgress; addRows: number };

/**
 * What a chunk's rows dirty: `perRow`, kept per row until the merge says which rows changed; else (a
 * chunk no stored image can meet, every row dirties) only the union, a few identities per instance
 * rather than per row.
 */
class ChunkMarks {
  readonly byPk = new Map<string, { ids: string[]; queries: string[] }>();
  readonly refs = new Map<string, InstanceRef>();
  readonly queries = new Map<string, RowQuery>();
  readonly priorities = new Map<string, Priority>();

  constructor(
    private readonly mappings: MappingSet,
    private readonly table: string,
    private readonly perRow: boolean,
    /** Whether the lookups that read a row are followed (not in a first load). */
    private readonly lookups: boolean,
  ) {}

  add(pk: string, row: RowImage): void {
    if (this.perRow) this.byPk.set(pk, this.marksOf(row));
    // The union only: no arrays per row (a first load copies millions of rows).
    else this.collect(row);
    const rank = this.mappings.instanceRank?.(this.table, row);
    if (rank) {
      this.priorities.set(instanceIdOf(rank.ref), {
        priority: (rank.open ? OPEN_PRIORITY : 0n) + BigInt(rank.startMs),
        updateMs: rank.updateMs,
      });
    }
  }

  marksOf(row: RowImage): { ids: string[]; queries: string[] } {
    const marks = { ids: [] as string[], queries: [] as string[] };
    this.collect(row, marks);
    return marks;
  }

  /** Adds the row's instances and lookups to the union, and to `marks` when given. */
  private collect(row: RowImage, marks?: { ids: string[]; queries: string[] }): void {
    for (const ref of this.mappings.instancesOfRow(this.table, row)) {
      const id = instanceIdOf(ref);
      this.refs.set(id, ref);
      marks?.ids.push(id);
    }
    if (!this.lookups) return;
    for (const query of this.mappings.dependentsOfRow(this.table, row)) {
      const key = rowQueryKey(query);
      this.queries.set(key, query);
      marks?.queries.push(key);
    }
  }
}

/**
 * A chunk to read again: it was loaded as meeting no stored image, met one, and was rolled back; the
 * loader now merges that table's chunks (the next read of the chunk keeps its marks per row).
 */
export class ChunkRetry extends Error {
  constructor(table: string) {
    super(`a chunk of ${table} met stored images: read it again to merge it`);
  }
}

export class SnapshotLoader {
  private readonly statements: ReplicaStatements;
  private readonly dirty: DirtySetFinder;
  /**
   * Per copy (its LSN) and table (othersKey), whether the replica holds images other than this
   * copy's (LoaderSession.holdsOthers). Shared by the sessions, so that a session taking a key range
   * of a table late in the copy does not ask again: the question scans every image of the table once
   * it holds only this copy's.
   */
  readonly others = new Map<string, boolean>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly mappings: MappingSet,
    private readonly slot: string,
    private readonly pkColumns: ReadonlyMap<string, readonly string[]>,
  ) {
    this.statements = new ReplicaStatements(schema, slot);
    this.dirty = new DirtySetFinder(mappings, schema);
  }

  /** A state connection of its own for one copy worker; release() it when done. */
  async session(): Promise<LoaderSession> {
    const client = await this.pool.connect();
    client.on('error', () => undefined);
    return new LoaderSession(this, client);
  }

  pkOf(table: string, row: RowImage): string | null {
    const cols = this.pkColumns.get(table);
    if (!cols || cols.length === 0) return null;
    const key: (string | null)[] = [];
    for (const c of cols) {
      const v = row[c];
      if (v === undefined) return null;
      key.push(v);
    }
    return jsonKey(key);
  }

  /** @internal Used by LoaderSession. */
  parts() {
    return {
      schema: this.schema,
      slot: this.slot,
      mappings: this.mappings,
      statements: this.statements,
      dirty: this.dirty,
    };
  }
}

export class LoaderSession {
  private readonly db: Kysely<StateDb>;
  private readonly staged = new Set<string>();
  private unpushed: boolean | undefined;
  private broken = false;

  constructor(
    private readonly loader: SnapshotLoader,
    private readonly client: pg.PoolClient,
  ) {
    // Kysely over this one connection: the lookups and bumps run in the chunk's transaction.
    const lease = { query: client.query.bind(client), release: () => undefined };
    const pool = { connect: async () => lease, end: async () => undefined } as unknown as PostgresPool;
    this.db = new Kysely<StateDb>({ dialect: new PostgresDialect({ pool }) });
  }

  /**
   * Streams one chunk (`source`: COPY text of `spec.columns`) into the replica at `imageLsn` and
   * saves the table's progress (`progressOf` the chunk's outcome) in the same transaction.
   */
  async loadChunk(
    spec: CopyTable,
    source: Readable,
    imageLsn: Lsn,
    progressOf: (chunk: ChunkResult) => ProgressWrite,
  ): Promise<ChunkResult> {
    const { schema, slot, mappings, statements, dirty } = this.loader.parts();
    const stage = await this.stageTable(spec);
    const c = this.client;
    const lsn = imageLsn.toString();
    try {
      await c.query('begin');
      const fresh = !(await this.holdsOthers(spec.table, lsn));
      const firstLoad = fresh && (await this.nothingPushed());
      const marks = new ChunkMarks(mappings, spec.table, !fresh, !firstLoad);
      const rows = new CopyRowStream(
        spec.columns,
        spec.keyColumns,
        (row) => this.loader.pkOf(spec.table, row),
        (pk, row) => marks.add(pk, row),
        spec.table,
      );
      const cols = spec.columns.map((_, i) => `c${i}`);
      await pipeline(
        source,
        rows,
        c.query(copyFrom(`copy pg_temp.${stage} (pk, ${cols.join(', ')}) from stdin`)),
      );
      if (fresh && !(await this.insertFresh(spec, stage, lsn))) {
        await c.query('rollback');
        throw new ChunkRetry(spec.table);
      }
      const prior = fresh ? [] : await this.mergeOver(spec, stage, lsn);
      // Rows the stream got to first, and rows unchanged since an earlier copy, dirty nothing; a
      // changed row dirties the instances of its image before too.
      const olds: RowImage[] = [];
      for (const p of prior) {
        if (p.kind === 'changed' && p.old) olds.push(p.old);
        else marks.byPk.delete(p.pk);
      }
      const refs = fresh ? new Map(marks.refs) : new Map<string, InstanceRef>();
      const queryKeys = fresh ? new Set(marks.queries.keys()) : new Set<string>();
      for (const { ids, queries } of marks.byPk.values()) {
        for (const id of ids) refs.set(id, marks.refs.get(id) as InstanceRef);
        for (const q of queries) queryKeys.add(q);
      }
      for (const old of olds) {
        const m = marks.marksOf(old);
        for (const id of m.ids) refs.set(id, marks.refs.get(id) as InstanceRef);
        for (const q of m.queries) queryKeys.add(q);
      }
      const found = await dirty.follow(this.db, {
        refs,
        queries: [...queryKeys].map((k) => marks.queries.get(k) as RowQuery),
        seenQueries: queryKeys,
      });
      await bumpSorted(
        new InstanceTable(this.db, schema),
        found,
        marks.priorities,
        mappings,
        this.db,
        firstLoad,
      );
      await statements.checkpoint(NO_COMMIT, imageLsn)?.execute(this.db);
      const result: ChunkResult = { rows: rows.rows, lastKey: rows.lastKey };
      const write = progressOf(result);
      const cp = sql.id(schema, 'checkpoint');
      // Under READ COMMITTED an UPDATE that waited for another chunk's evaluates its SET on the row
      // that chunk committed: ranges of one table saved at once both land.
      await (
        'table' in write
          ? sql`update ${cp} set snapshot_progress =
          jsonb_set(coalesce(snapshot_progress, '{}'::jsonb), array[${spec.table}::text], ${JSON.stringify(write.table)}::jsonb),
          updated_at = now() where slot = ${slot}`
          : sql`update ${cp} set snapshot_progress = jsonb_set(
            jsonb_set(snapshot_progress, array[${spec.table}::text, 'ranges', ${String(write.range)}::text], ${JSON.stringify(write.progress)}::jsonb),
            array[${spec.table}::text, 'rows'],
            to_jsonb(coalesce((snapshot_progress #>> array[${spec.table}::text, 'rows'])::bigint, 0) + ${write.addRows}::bigint)),
          updated_at = now() where slot = ${slot}`
      ).execute(this.db);
      await c.query('commit');
      return result;
    } catch (error) {
      // A chunk to read again was rolled back: the connection is fine.
      if (!(error instanceof ChunkRetry)) this.broken = true;
      throw error;
    }
  }

  /**
   * Whether the replica holds images of `table` other than this copy's (a re-snapshot, or an older
   * copy): only then can a chunk meet stored images. A first load, resumed or not, only meets its own
   * committed chunks, and those of the table's other key ranges, whose keys are disjoint from this
   * chunk's. Asked once per table and copy (SnapshotLoader.others).
   */
  private async holdsOthers(table: string, lsn: string): Promise<boolean> {
    const key = othersKey(lsn, table);
    let others = this.loader.others.get(key);
    if (others === undefined) {
      const { schema } = this.loader.parts();
      const { rows } = await this.client.query<{ others: boolean }>(
        `select exists (select 1 from "${schema}".row_image where tbl = $1 and lsn <> $2::bigint) as others`,
        [table, lsn],
      );
      others = rows[0]?.others !== false;
      this.loader.others.set(key, others);
    }
    return others;
  }

  /**
   * Whether no push was ever accepted for any instance (no synced version): with only this copy's
   * images in the table too, the chunk is part of a first load, and nothing is pushed before a first
   * load ends (the sync stage starts after it), so a dirty instance has no push in flight and its
   * bumps may keep its version (InstanceTable.bump, unpushedOnly). Asked once per session: a copy
   * pushes nothing.
   */
  private async nothingPushed(): Promise<boolean> {
    if (this.unpushed === undefined) {
      const { schema } = this.loader.parts();
      const { rows } = await this.client.query<{ pushed: boolean }>(
        `select exists (select 1 from "${schema}".instance where synced_version > 0) as pushed`,
      );
      this.unpushed = rows[0]?.pushed === false;
    }
    return this.unpushed;
  }

  /**
   * Inserts a chunk no stored image can meet (see holdsOthers) with a plain INSERT: about twice as
   * fast as the upsert's speculative insertion (20,000 images, 330-450 ms against 660-1040 ms, a
   * one-off measurement not kept in bench/). Should a key be stored after all, the insert is undone,
   * the table is merged from now on and false is returned: the chunk's marks were kept for the union
   * only, so the chunk is read again (ChunkRetry).
   */
  private async insertFresh(spec: CopyTable, stage: string, lsn: string): Promise<boolean> {
    const { schema } = this.loader.parts();
    await this.client.query('savepoint fresh_chunk');
    try {
      await this.client.query(
        `insert into "${schema}".row_image (tbl, pk, lsn, deleted, data)
         select $1, pk, $2::bigint, false, ${dataOf(spec.columns)} from pg_temp.${stage}`,
        [spec.table, lsn],
      );
      await this.client.query('release savepoint fresh_chunk');
      return true;
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      await this.client.query('rollback to savepoint fresh_chunk');
      this.loader.others.set(othersKey(lsn, spec.table), true);
      return false;
    }
  }

  /**
   * Merges a chunk over stored images: returns the rows that met one, except those that replaced a
   * tombstone (they dirty their instances like a new row): `skip` (the stored image is as late or
   * later), `same` (unchanged) or `changed` (with the image before).
   */
  private async mergeOver(spec: CopyTable, stage: string, lsn: string): Promise<Prior[]> {
    const { schema } = this.loader.parts();
    // One index probe per staged key (lateral): as a join, the planner may hash the whole replica.
    const { rows } = await this.client.query<Prior>(
      `with staged as materialized (select pk, ${dataOf(spec.columns)} as data from pg_temp.${stage}),
       prior as (
         select s.pk, case when i.lsn >= $2::bigint then 'skip' when i.deleted then 'revived'
           when i.data = s.data then 'same' else 'changed' end as kind,
           case when not i.deleted and i.lsn < $2::bigint and i.data <> s.data then i.data end as old
         from staged s cross join lateral (select lsn, deleted, data from "${schema}".row_image r
           where r.tbl = $1 and ${imageKeyMatch('r.pk', 's.pk')} limit 1) i),
       written as (
         insert into "${schema}".row_image (tbl, pk, lsn, deleted, data)
         select $1, pk, $2::bigint, false, data from staged
         on conflict (${imageKeyColumns()}) do update set lsn = excluded.lsn, deleted = false, data = excluded.data
         where row_image.lsn < excluded.lsn)
       select pk, kind, old from prior where kind <> 'revived'`,
      [spec.table, lsn],
    );
    return rows;
  }

  release(): void {
    // A connection left inside a failed COPY or transaction is closed, not returned to the pool.
    this.client.release(this.broken);
  }

  /** The staging table of a table's column list, made once per connection (emptied at each commit). */
  private async stageTable(spec: CopyTable): Promise<string> {
    const name = `approval_cdc_copy_${createHash('sha1')
      .update(JSON.stringify([spec.table, spec.columns]))
      .digest('hex')
      .slice(0, 16)}`;
    if (!this.staged.has(name)) {
      const cols = spec.columns.map((_, i) => `c${i} text`).join(', ');
      await this.client.query(
        `create temporary table if not exists ${name} (pk text, ${cols}) on commit delete rows`,
      );
      this.staged.add(name);
    }
    return name;
  }
}

const othersKey = (lsn: string, table: string): string => `${lsn}\u0000${table}`;

/** The image document of a staged row: every copied column by name (50 pairs per call: 100 arguments at most). */
function dataOf(columns: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < columns.length; i += 50) {
    const pairs = columns
      .slice(i, i + 50)
      .map((name, j) => `${sqlLiteral(name)}, c${i + j}`)
      .join(', ');
    parts.push(`jsonb_build_object(${pairs})`);
  }
  return parts.length === 0 ? `'{}'::jsonb` : parts.join(' || ');
}

/**
 * Bumps in id order across statements, not only within one: two copy workers bumping overlapping
 * instances then lock them in the same order and cannot deadlock.
 */
async function bumpSorted(
  instances: InstanceTable,
  refs: Map<string, InstanceRef>,
  priorities: ReadonlyMap<string, Priority>,
  mappings: MappingSet,
  db: Kysely<StateDb>,
  unpushedOnly: boolean,
): Promise<void> {
  let list = [...refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (unpushedOnly) {
    // Instances named again by their children (no priority: that comes from the instance row).
    const plain = list.filter(([id]) => !priorities.has(id)).map(([id]) => id);
    const unchanged = await instances.unchangedByBump(plain, LANE_BACKFILL);
    if (unchanged.size > 0) list = list.filter(([id]) => !unchanged.has(id));
  }
  for (let i = 0; i < list.length; i += 5000) {
    await instances
      .bump(
        new Map(list.slice(i, i + 5000)),
        LANE_BACKFILL,
        null,
        priorities,
        (ref) => mappings.externalId(ref),
        undefined,
        unpushedOnly,
      )
      ?.execute(db);
  }
}
