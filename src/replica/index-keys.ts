// Owns the expressions the replica's indexes are built on, and the conditions that use them: the
// unique key of row_image (migration 0022-ordered-keys), the lookup indexes (row-query.ts) and the
// instances' external ids. Pure: SQL text only. Invariant: a statement that must use an index writes
// the expression exactly as the index was created with it (the planner and ON CONFLICT match by text).
import { sql, type RawBuilder } from 'kysely';

/** Characters of a key or looked-up value an index holds before its digest (at most 1,024 bytes). */
export const INDEXED_PREFIX = 256;

/**
 * The leading part of a key or value as an index holds it: its first INDEXED_PREFIX characters in
 * byte order (collation "C", whatever the database's). Ordered, not hashed: keys a source hands out
 * in order (serials, dated codes) land on the index's last pages, which stay in memory, where a digest
 * scatters every insert over the whole index (the copy's and the stream's main cost at a million rows,
 * docs/benchmarks.md). Bounded: a btree entry holds at most 2,704 bytes, a legal key can be longer.
 */
export function orderedPrefix(column: string): string {
  return `(left(${column}, ${INDEXED_PREFIX}) collate "C")`;
}

/**
 * The SHA-256 of a key's bytes. Doubling backslashes before the cast to bytea makes the cast read the
 * text's bytes as they are (the only escape left is a doubled backslash), and keeps the expression
 * immutable, as an index needs.
 */
function pkDigest(column: string): string {
  return String.raw`sha256(replace(${column}, E'\\', E'\\\\')::bytea)`;
}

/**
 * The columns row_image is unique on (migration 0022-ordered-keys): the table, the key's ordered
 * prefix, and its digest, which tells apart two keys longer than the prefix. Statements must use this
 * text for the index to serve (ON CONFLICT infers the index from it).
 */
export function imageKeyColumns(pk = 'pk'): string {
  // An inference element names its collation after the expression, not inside it.
  return `tbl, (left(${pk}, ${INDEXED_PREFIX})) collate "C", ${pkDigest(pk)}`;
}

/** The condition that finds the image of key `b` through row_image's unique index (`a`: its pk). */
export function imageKeyMatch(a: string, b: string): string {
  return `${orderedPrefix(a)} = ${orderedPrefix(b)} and ${pkDigest(a)} = ${pkDigest(b)} and ${a} = ${b}`;
}

/** Text as an SQL string literal, as sql.lit writes it (index and query texts must match). */
export function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** A looked-up column of row `alias`'s image, as the lookup indexes hold it (row-query.ts). */
export function indexedLookup(alias: string, column: string): string {
  return orderedPrefix(`(${alias}data ->> ${sqlLiteral(column)})`);
}

/** Instances whose external id is `value`, through the instance_external_id index. */
export function externalIdIs(value: string | null): RawBuilder<unknown> {
  return sql`${sql.raw(orderedPrefix('external_id'))} = (left(${value}::text, ${INDEXED_PREFIX}) collate "C") and external_id = ${value}`;
}
