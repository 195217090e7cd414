// Reads what the source catalog says about the mapped tables: which columns identify a row.
// Invariant: a table's row identity is its primary key, else its REPLICA IDENTITY index, else the
// key the mapping declares; a table with none of them is refused before streaming starts.
import type pg from 'pg';
import { CdcError } from '../errors.js';
import type { MappingSet } from '../mapping/contract.js';

export function splitTable(table: string): { schema: string; name: string } {
  const dot = table.indexOf('.');
  return dot < 0
    ? { schema: 'public', name: table }
    : { schema: table.slice(0, dot), name: table.slice(dot + 1) };
}

export function quoteTable(table: string): string {
  const { schema, name } = splitTable(table);
  return `"${schema.replace(/"/g, '""')}"."${name.replace(/"/g, '""')}"`;
}

export async function resolveTableKeys(
  client: pg.ClientBase,
  mappings: MappingSet,
): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>();
  for (const [table, use] of mappings.tables) {
    if (use.keyColumns && use.keyColumns.length > 0) {
      keys.set(table, [...use.keyColumns]);
      continue;
    }
    const { schema, name } = splitTable(table);
    const { rows } = await client.query<{ cols: string[] | null; exists: boolean }>(
      `select c.oid is not null as exists,
         coalesce(
           (select array_agg(a.attname::text order by k.ord) from pg_index i
              cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
              join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             where i.indrelid = c.oid and i.indisprimary),
           (select array_agg(a.attname::text order by k.ord) from pg_index i
              cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
              join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             where i.indrelid = c.oid and i.indisreplident)) as cols
       from (select 1) one left join pg_class c on c.relnamespace = (select oid from pg_namespace where nspname = $1) and c.relname = $2`,
      [schema, name],
    );
    const row = rows[0];
    if (!row?.exists)
      throw new CdcError('SOURCE_SETUP', `mapped table ${table} does not exist in the source database`);
    if (!row.cols || row.cols.length === 0) {
      throw new CdcError(
        'SOURCE_SETUP',
        `mapped table ${table} has no primary key or replica identity index; declare key columns in its mapping`,
      );
    }
    keys.set(table, row.cols);
  }
  return keys;
}
