// Checks every table and column the mappings name against the source catalog, each problem at the
// file:line:col that names it. `run` and `setup` refuse to start on any (MAPPING_INVALID, exit 2),
// `mappings check` reports them when a source database is reachable, `doctor` prints the same lines.
// Invariant: read-only (pg_catalog only), one query for all tables; a mapping that reads a column the
// table lacks never starts, because it would push wrong data (an empty placeholder, an "absent" filter).
import type pg from 'pg';
import { closestName } from '../config/did-you-mean.js';
import { CdcError } from '../errors.js';
import type { MappingSet, SourceRef } from '../mapping/contract.js';
import { formatProblems } from '../mapping/mapping-loader.js';
import { sortProblems, type MappingProblem } from '../mapping/mapping-problem.js';
import { splitTable } from './catalog.js';

/** One table or column a mapping names that the catalog lacks. */
export interface CatalogProblem extends MappingProblem {
  readonly table: string;
  readonly column: string | null;
}

/** The problems of `mappings` against the catalog `client` is connected to (empty when none). */
export async function catalogProblems(
  client: pg.ClientBase,
  mappings: MappingSet,
): Promise<CatalogProblem[]> {
  const tables = [...mappings.tables.keys()];
  const names = tables.map(splitTable);
  const { rows } = await client.query<{ schema: string; name: string; columns: string[] }>(
    `select n.nspname as schema, c.relname as name,
       array(select a.attname::text from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum) as columns
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'v', 'm', 'f') and (n.nspname, c.relname) in
       (select * from unnest($1::text[], $2::text[]))`,
    [names.map((t) => t.schema), names.map((t) => t.name)],
  );
  const columns = new Map(rows.map((r) => [`${r.schema}.${r.name}`, r.columns]));
  const schemas = new Set(names.map((t) => t.schema));
  const nearTables = await tablesIn(client, [...schemas]);
  const refs = mappings.sourceRefs?.() ?? [];
  const problems: CatalogProblem[] = [];
  for (const table of tables) {
    const { schema, name } = splitTable(table);
    const present = columns.get(`${schema}.${name}`);
    const ofTable = refs.filter((r) => r.table === table);
    if (!present) {
      const at = ofTable.find((r) => r.column === null) ?? ofTable[0];
      const near = closestName(table, nearTables);
      problems.push(
        problem(
          table,
          null,
          at,
          `table ${table} which the source database does not have`,
          near ? `an existing table (did you mean ${near}?)` : 'an existing table',
        ),
      );
      continue;
    }
    const wanted = new Set([
      ...(mappings.tables.get(table)?.columns ?? []),
      ...(mappings.tables.get(table)?.keyColumns ?? []),
    ]);
    for (const column of wanted) {
      if (present.includes(column)) continue;
      const at = ofTable.find((r) => r.column === column);
      const near = closestName(column, present);
      problems.push(
        problem(
          table,
          column,
          at,
          `column "${column}" which ${table} does not have`,
          near ? `a column of ${table} (did you mean ${near}?)` : `one of ${present.join(', ')}`,
        ),
      );
    }
  }
  sortProblems(problems);
  return problems;
}

/** Throws MAPPING_INVALID listing every problem (the start of `run` and `setup`). */
export async function assertCatalogMatches(client: pg.ClientBase, mappings: MappingSet): Promise<void> {
  const problems = await catalogProblems(client, mappings);
  if (problems.length > 0)
    throw new CdcError(
      'MAPPING_INVALID',
      `${formatProblems(problems)}\n(the source catalog lacks what the mappings read: they would push wrong data)`,
      { details: { problems } },
    );
}

async function tablesIn(client: pg.ClientBase, schemas: string[]): Promise<string[]> {
  const { rows } = await client.query<{ t: string }>(
    `select n.nspname || '.' || c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname = any($1::text[])`,
    [schemas],
  );
  return rows.map((r) => r.t);
}

function problem(
  table: string,
  column: string | null,
  at: SourceRef | undefined,
  found: string,
  expected: string,
): CatalogProblem {
  const file = at?.file ?? '(mappings)';
  const line = at?.line ?? 1;
  const col = at?.col ?? 1;
  const path = at?.path ?? '(root)';
  return {
    table,
    column,
    file,
    line,
    col,
    path,
    found,
    expected,
    message: `${file}:${line}:${col} ${path}: ${found}; expected ${expected}`,
  };
}
