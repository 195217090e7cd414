// Copies the mapped tables into the replica under the slot's exported snapshot at the speed of COPY:
// each chunk of a table is `COPY (SELECT <kept columns> ... ORDER BY key LIMIT n) TO STDOUT`, streamed
// with backpressure into the replica (snapshot-loader.ts), several tables at once on connections that
// all import the one snapshot, and a large table with a single integer key in key ranges copied side
// by side, so that the workers share its tail instead of one worker copying it alone; an instance
// table's ranges go a few ahead of its children's, so that an instance row is mostly written once
// (copyOrder).
// Invariants: rows are read with their exact text output (COPY's text format is the type's output
// function, as the stream sends it); a copied row never overwrites an image the stream wrote;
// progress (last key per table, or per key range) commits with each chunk, so an interrupted copy
// resumes where it stopped; the ranges are fixed when the table's copy starts and cover every key.
// A resumed copy reads the remaining chunks under fresh snapshots (one per connection): that is safe
// because streaming then replays from the slot's consistent point, and every change after it lands
// on top of whatever the copy wrote (images only move forward by LSN), and the image horizon is
// raised past the resumed copy (initial-load.ts) so no insert it saw is taken for unstored. Memory
// is the stream buffers and one row per worker, whatever the table sizes.
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import {
  ChunkRetry,
  type LoaderSession,
  type ProgressWrite,
  type SnapshotLoader,
} from '../replica/snapshot-loader.js';
import { quoteTable, splitTable } from './catalog.js';
import type { CopyProgress, TableProgress } from '../core/copy-progress.js';
import type { Lsn } from '../core/lsn.js';

export interface SnapshotCopyOptions {
  sourceUrl: string;
  snapshotName: string | null;
  /**
   * Copied images are placed just below it: the WAL position read before the slot was created, so
   * every change the slot streams wins over them (Checkpoint.copyLsn).
   */
  snapshotLsn: Lsn;
  tables: ReadonlyMap<string, { keyColumns: readonly string[]; columns: readonly string[] }>;
  loader: SnapshotLoader;
  progress: CopyProgress;
  /** Saves the whole progress (before the first chunk; each chunk saves its table's with its rows). */
  saveProgress(progress: CopyProgress): Promise<void>;
  /** Rows per chunk (per state transaction, per progress save). */
  pageSize?: number;
  /** Tables copied at once, each on its own source and state connection. */
  concurrency?: number;
  onPage?(table: string, progress: TableProgress): void;
  /** Called after each chunk commits; throwing aborts the copy (used by tests to kill it halfway). */
  afterPage?(table: string, copied: number): void | Promise<void>;
  /** Tables whose rows are instances: copied ahead of the rows that belong to them (copyOrder). */
  instanceTables?: ReadonlySet<string>;
}

export const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

interface ColumnType {
  name: string;
  type: string;
}

export async function copySnapshot(options: SnapshotCopyOptions): Promise<CopyProgress> {
  const pageSize = options.pageSize ?? 10_000;
  const progress: CopyProgress = structuredClone(options.progress);
  const pending = [...options.tables.keys()].filter((t) => progress[t]?.done !== true);
  const workers = Math.max(1, Math.min(options.concurrency ?? 2, pending.length));
  const sources: pg.Client[] = [];
  try {
    for (let i = 0; i < workers; i++)
      sources.push(await openSnapshot(options.sourceUrl, options.snapshotName));
    const first = sources[0] as pg.Client;
    // Every table is listed with its estimated size before the first row is copied, so progress
    // (status, log, metrics) shows the tables still waiting and a total to measure against.
    for (const table of options.tables.keys()) {
      const state = (progress[table] ??= { done: false, lastKey: null, rows: 0 });
      if (!state.done && state.total === undefined) state.total = await estimateRows(first, table);
    }
    if (workers > 1) {
      for (const table of pending) {
        const spec = options.tables.get(table);
        const state = progress[table];
        if (spec && state) await splitKeyRanges(first, table, spec.keyColumns, state, pageSize * RANGE_PAGES);
      }
    }
    await options.saveProgress(progress);
    const queue = copyOrder(pending, progress, pageSize, {
      ...(options.instanceTables ? { instanceTables: options.instanceTables } : {}),
      workers,
    });
    let failed = false;
    // A table's columns, read once per copy, not once per key range.
    const catalog = new Map<string, Promise<ColumnType[]>>();
    const worker = async (source: pg.Client): Promise<void> => {
      const session = await options.loader.session();
      try {
        for (let item = queue.shift(); item !== undefined && !failed; item = queue.shift()) {
          await copyTable(options, source, session, item, progress, pageSize, () => failed, catalog);
        }
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        session.release();
      }
    };
    const outcomes = await Promise.allSettled(sources.map(worker));
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw failure.reason;
    // A table copied in ranges is done once all of them are (each range saved its own).
    const ranged = pending.filter((t) => progress[t]?.ranges !== undefined);
    for (const table of ranged) (progress[table] as TableProgress).done = true;
    if (ranged.length > 0) await options.saveProgress(progress);
    for (const source of sources) await source.query('commit');
    return progress;
  } finally {
    for (const source of sources) await source.end().catch(() => undefined);
  }
}

/** One table, or one key range of a table (copyTable reads it from `range` on). */
export interface CopyItem {
  table: string;
  range?: number;
}

/** What copyOrder needs to know of the mappings and the copy besides the tables' progress. */
export interface OrderHints {
  /** Tables whose rows are instances (MappingSet.instanceTableOf): their rows create the instances. */
  instanceTables?: ReadonlySet<string>;
  /** Copy workers: how many key ranges of an instance table go before its children's. */
  workers?: number;
}

/**
 * Small tables first (under a chunk: lookup tables such as users), then the rest largest first, each
 * range of a table copied in ranges an item of its own. A lookup table copied after the rows that
 * read it re-dirties every instance reading it (25,000 instances bumped again for 20 users in the
 * bench); copied first, the lookups find nothing yet and each instance is dirtied by its own rows.
 * Largest first keeps the workers busy to the end; ranges let them share a large table's tail.
 * Ranges of several tables interleave by their place in each key space (see below), an instance
 * table's ranges `workers` ranges ahead of the other tables' ranges: a child row copied before its
 * instance row creates the instance without a priority, and the instance row then writes it a second
 * time (250,000 of the bench's 500,000 instance writes; docs/benchmarks.md); copied after it, the
 * child finds its instance dirty already and writes nothing.
 */
export function copyOrder(
  tables: readonly string[],
  progress: CopyProgress,
  pageSize: number,
  hints: OrderHints = {},
): CopyItem[] {
  const left = (t: string) => Math.max(0, (progress[t]?.total ?? 0) - (progress[t]?.rows ?? 0));
  // A table in ranges is copied range by range however little its estimate says is left: as one
  // piece it would start again from its first key.
  const isSmall = (t: string) => progress[t]?.ranges === undefined && left(t) < pageSize;
  const small = tables.filter(isSmall).sort((a, b) => left(a) - left(b));
  const large = tables.filter((t) => !isSmall(t)).sort((a, b) => left(b) - left(a));
  const isInstance = (t: string) => hints.instanceTables?.has(t) === true;
  // The widest range of an instance table: the others trail by `workers` of them, so that when a
  // worker frees up the instance rows a child range needs were most likely taken (and done) first.
  let width = 0;
  for (const t of large) {
    const n = isInstance(t) ? progress[t]?.ranges?.length : undefined;
    if (n !== undefined) width = Math.max(width, 1 / n);
  }
  const lag = (t: string) => (isInstance(t) ? 0 : width * (hints.workers ?? 1));
  const items = large.flatMap((table, size) => {
    // At one place, instance tables first, then by size.
    const order = (isInstance(table) ? 0 : large.length) + size;
    const ranges = progress[table]?.ranges;
    // A table in one piece starts at once, lag or not: no other worker can share its tail.
    if (!ranges) return [{ item: { table }, at: 0, order }];
    return ranges.flatMap((r, range) =>
      r.done ? [] : [{ item: { table, range }, at: range / ranges.length + lag(table), order }],
    );
  });
  // Tables move through their key spaces together, as when each had a worker of its own: a request's
  // steps and CCs are copied a few ranges after its own row, not one whole table after another.
  items.sort((a, b) => a.at - b.at || a.order - b.order);
  return [...small.map((table) => ({ table })), ...items.map((i) => i.item)];
}

/** Pages per key range: ranges are small enough for the workers to share a table's tail. */
const RANGE_PAGES = 4;
const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/**
 * Splits the key space of a table not started yet into ranges of about `rangeRows` rows, evenly by
 * key value between its smallest and largest key (two index probes; a skewed key only makes ranges
 * uneven, never wrong: the ranges cover every key). Only a single integer key is split; any other
 * table is copied in one piece, as a table already started without ranges is.
 */
async function splitKeyRanges(
  client: pg.Client,
  table: string,
  keyColumns: readonly string[],
  state: TableProgress,
  rangeRows: number,
): Promise<void> {
  const [key] = keyColumns;
  if (
    state.ranges ||
    state.done ||
    state.rows > 0 ||
    state.lastKey ||
    keyColumns.length !== 1 ||
    key === undefined
  )
    return;
  const parts = Math.floor((state.total ?? 0) / rangeRows);
  if (parts < 2) return;
  const [column] = await existingColumns(client, table, [key]);
  if (!column || !INTEGER_TYPES.has(column.type)) return;
  const k = quoteIdent(key);
  const { rows } = await client.query<{ lo: string | null; hi: string | null }>(
    `select min(${k})::text as lo, max(${k})::text as hi from ${quoteTable(table)}`,
  );
  const lo = rows[0]?.lo;
  const hi = rows[0]?.hi;
  if (lo === null || lo === undefined || hi === null || hi === undefined) return;
  const low = BigInt(lo);
  const span = BigInt(hi) - low;
  const uppers: (string | null)[] = [];
  for (let i = 1n; i < BigInt(parts); i++) {
    const upper = (low + (span * i) / BigInt(parts)).toString();
    if (upper !== uppers.at(-1)) uppers.push(upper);
  }
  uppers.push(null);
  state.ranges = uppers.map((upper) => ({ upper, lastKey: null, rows: 0, done: false }));
}

/** A source connection inside a read-only transaction on the slot's snapshot (or a fresh one). */
async function openSnapshot(url: string, snapshotName: string | null): Promise<pg.Client> {
  // Every value as Postgres prints it (booleans t/f, char(n) padded), exactly like the stream sends it.
  const client = new pg.Client({
    connectionString: url,
    application_name: 'approval-cdc-copy',
    types: RAW_TEXT,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    if (snapshotName) await client.query(`set transaction snapshot ${client.escapeLiteral(snapshotName)}`);
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

async function copyTable(
  options: SnapshotCopyOptions,
  source: pg.Client,
  session: LoaderSession,
  { table, range }: CopyItem,
  progress: CopyProgress,
  pageSize: number,
  stopped: () => boolean,
  catalog: Map<string, Promise<ColumnType[]>>,
): Promise<void> {
  const spec = options.tables.get(table);
  if (!spec) return;
  const started = (progress[table] ??= { done: false, lastKey: null, rows: 0 });
  started.startedAt ??= new Date().toISOString();
  options.onPage?.(table, started);
  let read = catalog.get(table);
  if (!read) {
    read = existingColumns(source, table, [...new Set([...spec.keyColumns, ...spec.columns])]);
    catalog.set(table, read);
  }
  const columns = await read;
  const keyTypes = spec.keyColumns.map((k) => columns.find((c) => c.name === k) ?? { name: k, type: 'text' });
  const select = columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
  // Qualified, so ORDER BY sorts by the typed column and not by its text alias ("30" > "270").
  const keyList = keyTypes.map((k) => `t.${quoteIdent(k.name)}`).join(', ');
  // COPY takes no parameters: keys go in as literals of their columns' types.
  const literals = (key: readonly (string | null)[]) =>
    keyTypes
      .map((k, i) => {
        const v = key[i] ?? null;
        return v === null ? `null::${k.type}` : `${source.escapeLiteral(v)}::${k.type}`;
      })
      .join(', ');
  const copyOf = { table, columns: columns.map((c) => c.name), keyColumns: spec.keyColumns };
  // A range: the keys above the previous range's upper bound, up to its own.
  const part = range === undefined ? undefined : started.ranges?.[range];
  if (range !== undefined && !part) return;
  const lower = range === undefined || range === 0 ? null : (started.ranges?.[range - 1]?.upper ?? null);
  while (!stopped()) {
    const at = part ?? started;
    const where: string[] = [];
    if (at.lastKey) where.push(`(${keyList}) > (${literals(at.lastKey)})`);
    else if (lower !== null) where.push(`(${keyList}) > (${literals([lower])})`);
    if (part && part.upper !== null) where.push(`(${keyList}) <= (${literals([part.upper])})`);
    const stream = source.query(
      copyTo(
        `copy (select ${select} from ${quoteTable(table)} t ${where.length > 0 ? `where ${where.join(' and ')}` : ''} order by ${keyList} limit ${pageSize}) to stdout`,
      ),
    );
    let copied = 0;
    let next: Pick<TableProgress, 'rows' | 'lastKey' | 'done'> = at;
    try {
      await session.loadChunk(copyOf, stream, options.snapshotLsn - 1n, (chunk): ProgressWrite => {
        copied = chunk.rows;
        next = {
          rows: at.rows + chunk.rows,
          lastKey: chunk.lastKey ?? at.lastKey,
          done: chunk.rows < pageSize,
        };
        return part && range !== undefined
          ? { range, progress: { ...part, ...next }, addRows: chunk.rows }
          : { table: { ...started, ...next } };
      });
    } catch (error) {
      // Rolled back, nothing saved: the same chunk is read again and merged.
      if (error instanceof ChunkRetry) continue;
      throw error;
    }
    // Committed: the in-memory progress follows (one object per table, shared by its ranges' workers).
    Object.assign(at, next);
    if (part) started.rows += copied;
    options.onPage?.(table, started);
    await options.afterPage?.(table, started.rows);
    if (at.done) return;
  }
}

/** pg_class.reltuples, or a count when the table was never analyzed (reltuples -1 or 0). */
async function estimateRows(client: pg.ClientBase, table: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select reltuples::bigint::text as n from pg_class where oid = $1::regclass`,
    [quoteTable(table)],
  );
  const estimate = Number(rows[0]?.n ?? -1);
  if (estimate > 0) return estimate;
  const counted = await client.query<{ n: string }>(`select count(*)::text as n from ${quoteTable(table)}`);
  return Number(counted.rows[0]?.n ?? 0);
}

async function existingColumns(
  client: pg.ClientBase,
  table: string,
  wanted: string[],
): Promise<ColumnType[]> {
  const { schema, name } = splitTable(table);
  const { rows } = await client.query<{ attname: string; type: string }>(
    `select a.attname, format_type(a.atttypid, a.atttypmod) as type from pg_attribute a
     join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relname = $2 and a.attnum > 0 and not a.attisdropped and a.attname = any($3::text[])
     order by a.attnum`,
    [schema, name, wanted],
  );
  return rows.map((r) => ({ name: r.attname, type: r.type }));
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
