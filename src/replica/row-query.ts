// Owns how the replica answers row queries ("rows of table T whose columns equal M") and the
// indexes that answer them. Invariant: every query is answered through a btree index on one of its
// match columns, so lookups stay fast however fast row images are written; the indexes are missing
// only while a first load copies, which asks no queries: initial-load.ts builds the missing ones
// before streaming and before any other copy.
//
// Why not one GIN index over the images: its pending list grows with every write and is scanned by
// every lookup, so under sustained ingest each lookup took tens of milliseconds (and turning the
// pending list off doubled the cost of writing an image). A partial expression index per queried
// column holds only the rows that have that column and costs one small btree insert per row.
//
// The index holds the value's first characters in byte order (index-keys.ts, orderedPrefix),
// not the value: a btree entry is limited to 2,704 bytes, and a legal source value can be far longer
// (a 6,400-character parent key made every write of its row fail). Not a digest either: a digest
// scatters the inserts of values handed out in order over the whole index (md5 until 0022 cost the
// copy about half its state-server time). The query compares the raw value too, so two values with
// one prefix only cost a heap fetch.
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import { indexColumnOf, type LoadedRow, type RowQuery } from '../mapping/contract.js';
import { indexedLookup, orderedPrefix } from './index-keys.js';

const INDEX_PREFIX = 'row_image_q_';

function indexName(column: string): string {
  // 'ordered:' names the indexes over ordered prefixes: those over raw values (before 0014c) and
  // over md5 digests (before 0022) are dropped below.
  return INDEX_PREFIX + createHash('sha1').update(`ordered:${column}`).digest('hex').slice(0, 16);
}

/**
 * Creates the index of every column in `columns` and drops ours that no mapping queries any more
 * (each costs a btree insert per write). Runs before streaming starts and before a copy that follows
 * lookups (initial-load.ts); the only writer of the replica is this process, so the brief write lock
 * of a plain CREATE INDEX blocks nobody.
 */
export async function ensureRowQueryIndexes(
  db: Kysely<StateDb>,
  schema: string,
  columns: Iterable<string>,
): Promise<void> {
  const wanted = new Map<string, string>();
  for (const c of columns) wanted.set(indexName(c), c);
  const present = await lookupIndexNames(db, schema);
  for (const name of present) {
    if (!wanted.has(name)) await sql`drop index if exists ${sql.id(schema, name)}`.execute(db);
  }
  for (const [name, column] of wanted) {
    if (present.has(name)) continue;
    await sql`create index if not exists ${sql.id(name)} on ${sql.id(schema, 'row_image')}
      (tbl, ${sql.raw(indexedLookup('', column))}) where data ? ${sql.lit(column)}`.execute(db);
  }
}

/**
 * Drops every lookup index (before a first load's copy, which asks no lookups: see
 * SnapshotLoader). One CREATE INDEX over the copied images afterwards costs less than an index
 * insert per copied row; ensureRowQueryIndexes builds them again when the copy ends.
 */
export async function dropRowQueryIndexes(db: Kysely<StateDb>, schema: string): Promise<void> {
  for (const name of await lookupIndexNames(db, schema))
    await sql`drop index if exists ${sql.id(schema, name)}`.execute(db);
}

/** Our lookup indexes on row_image, by name (any version of them). */
async function lookupIndexNames(db: Kysely<StateDb>, schema: string): Promise<Set<string>> {
  const { rows } = await sql<{ name: string }>`
    select indexname as name from pg_indexes where schemaname = ${schema} and tablename = 'row_image'
    and indexname like ${INDEX_PREFIX + '%'}`.execute(db);
  return new Set(rows.map((r) => r.name));
}

/** The rows (live and tombstones) answering each query, in the order of `queries`. */
export async function queryRows(
  db: Kysely<StateDb>,
  schema: string,
  queries: readonly RowQuery[],
): Promise<LoadedRow[][]> {
  const out: LoadedRow[][] = queries.map(() => []);
  const byColumn = new Map<string, number[]>();
  queries.forEach((q, i) => {
    const column = indexColumnOf(Object.keys(q.match));
    if (column === undefined) return;
    const list = byColumn.get(column);
    if (list) list.push(i);
    else byColumn.set(column, [i]);
  });
  for (const [column, indexes] of byColumn) {
    const col = sql.lit(column);
    const indexed = sql.raw(indexedLookup('ri.', column));
    // The column literal must appear as in the index definition for the planner to use it.
    const { rows } = await sql<{ i: string; data: Record<string, string | null>; deleted: boolean }>`
      select q.i, r.data, r.deleted
      from unnest(${indexes.map((i) => queries[i]?.table)}::text[], ${indexes.map((i) => queries[i]?.match[column])}::text[],
        ${indexes.map((i) => JSON.stringify(queries[i]?.match))}::jsonb[]) with ordinality as q(tbl, v, m, i)
      join lateral (select data, deleted from ${sql.id(schema, 'row_image')} ri
        where ri.data ? ${col} and ${indexed} = ${sql.raw(orderedPrefix('q.v'))} and (ri.data ->> ${col}) = q.v
          and ri.tbl = q.tbl and ri.data @> q.m) r on true`.execute(db);
    for (const row of rows)
      out[indexes[Number(row.i) - 1] as number]?.push({ values: row.data, deleted: row.deleted });
  }
  return out;
}
