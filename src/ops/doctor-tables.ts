// The doctor's checks of one mapped table: it exists with the columns the mappings read, and its
// replica identity lets UPDATE and DELETE be published and tells rows apart by the mapping's key.
// Invariant: read-only (catalog queries only); a problem is a finding with the SQL that fixes it.
import type pg from 'pg';
import type { TableUse } from '../mapping/contract.js';
import { quoteTable, splitTable } from '../source/catalog.js';
import { fail, pass, type Finding } from './doctor-finding.js';

const list = (items: readonly string[]) => items.join(', ');

/** `located`: the catalog problems of the table, each naming where the mappings name it (file:line:col). */
export async function tableChecks(
  c: pg.ClientBase,
  use: TableUse,
  located: readonly string[],
): Promise<Finding[]> {
  const where = located.length > 0 ? `\n${located.join('\n')}` : '';
  const { schema, name } = splitTable(use.table);
  const q = quoteTable(use.table);
  const { rows } = await c.query<{
    relreplident: string;
    schema_usage: boolean;
    can_select: boolean;
    columns: string[];
    pk: string[];
    ident_index: string[];
  }>(
    `select c.relreplident,
       has_schema_privilege(n.oid, 'USAGE') as schema_usage,
       has_table_privilege(c.oid, 'SELECT') as can_select,
       array(select a.attname::text from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
       array(select a.attname::text from pg_index i cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             where i.indrelid = c.oid and i.indisprimary order by k.ord) as pk,
       array(select a.attname::text from pg_index i cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             where i.indrelid = c.oid and i.indisreplident order by k.ord) as ident_index
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')`,
    [schema, name],
  );
  const t = rows[0];
  if (!t) {
    return [
      fail(
        `table:${use.table}`,
        'error',
        `mapped table ${use.table} does not exist in the source database${where}`,
        `create ${q}, or correct the table name in the mapping`,
      ),
    ];
  }
  const findings: Finding[] = [];
  const present = new Set<string>(t.columns);
  const needed = [...new Set([...use.columns, ...(use.keyColumns ?? [])])];
  const missing = needed.filter((col) => !present.has(col));
  findings.push(
    missing.length === 0
      ? pass(`table:${use.table}`, `${use.table} has the ${needed.length} column(s) the mappings read`)
      : fail(
          `table:${use.table}`,
          'error',
          `${use.table} lacks column(s) the mappings read: ${list(missing)}${where}`,
          `correct the column names in the mapping, or ALTER TABLE ${q} ADD COLUMN …`,
        ),
  );
  findings.push(replicaIdentity(use, q, t.relreplident, t.pk, t.ident_index, t.columns));
  return findings;
}

function replicaIdentity(
  use: TableUse,
  q: string,
  mode: string,
  pk: string[],
  index: string[],
  all: string[],
): Finding {
  const id = `replica-identity:${use.table}`;
  // With no usable identity, Postgres rejects UPDATE and DELETE on a published table: the legacy
  // application itself would start failing, which is worse than any lag.
  const breaks = 'once the table is published, UPDATE and DELETE on it fail in the legacy application';
  const fullOrPk = `ALTER TABLE ${q} REPLICA IDENTITY FULL;  -- or add a primary key: ALTER TABLE ${q} ADD PRIMARY KEY (…);`;
  let identity: string[];
  if (mode === 'n') {
    return fail(
      id,
      'error',
      `${use.table} has REPLICA IDENTITY NOTHING: ${breaks}, and deletes could not be replicated`,
      pk.length > 0 ? `ALTER TABLE ${q} REPLICA IDENTITY DEFAULT;` : fullOrPk,
    );
  } else if (mode === 'd') {
    if (pk.length === 0) {
      return fail(
        id,
        'error',
        `${use.table} has REPLICA IDENTITY DEFAULT but no primary key: ${breaks}`,
        fullOrPk,
      );
    }
    identity = pk;
  } else if (mode === 'i') {
    identity = index;
  } else {
    identity = all;
  }
  const label =
    mode === 'd'
      ? `DEFAULT (primary key ${list(pk)})`
      : mode === 'i'
        ? `USING INDEX (${list(index)})`
        : 'FULL';
  const key = use.keyColumns && use.keyColumns.length > 0 ? use.keyColumns : pk;
  const lacking = key.filter((col) => !identity.includes(col));
  if (key.length === 0) {
    return fail(
      id,
      'error',
      `${use.table} has REPLICA IDENTITY ${label} but neither a primary key nor key columns in its mapping: rows cannot be told apart`,
      `declare the row key of ${use.table} in its mapping, or ALTER TABLE ${q} ADD PRIMARY KEY (…);`,
    );
  }
  if (lacking.length > 0) {
    return fail(
      id,
      'error',
      `${use.table} has REPLICA IDENTITY ${label}, so a DELETE carries only those columns, but the mapping keys rows by (${list(key)})`,
      `ALTER TABLE ${q} REPLICA IDENTITY FULL;  -- or key the mapping by the primary key`,
    );
  }
  const cost = mode === 'f' ? ' (every UPDATE logs the whole old row: more WAL)' : '';
  return pass(id, `${use.table} has REPLICA IDENTITY ${label}${cost}`);
}
