// Selects instances to push again from the replica after a mapping change, without touching the
// legacy database: all of them, those of one mapping, those whose rows match a condition, or the
// ones named by instance id. Invariants: it only marks instances dirty (backfill lane); what is
// pushed is decided by the scheduler from the replica like any other change. The selection runs in a
// READ ONLY transaction and a condition is a parsed Filter compiled to parameters (never SQL text
// from a setting), so a dry run, or a condition that tries more than comparing, changes nothing.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { closestName } from '../config/did-you-mean.js';
import { CdcError } from '../errors.js';
import type { InstanceRef, MappingSet, TableName } from '../mapping/contract.js';
import { parseWhereCondition, type WhereCondition, type WhereFilter } from '../mapping/where-condition.js';
import { InstanceTable } from './instance-table.js';
import type { StateDb } from './state-schema.js';
import { instanceIdOf } from './instance-vocabulary.js';

export interface ResyncOptions {
  db: Kysely<StateDb>;
  schema: string;
  mappings: MappingSet;
  mapping?: string;
  /** Rows of this table whose instances are resynced (default: each mapping's instance table). */
  table?: string;
  /** A condition over the table's columns (where-condition.ts), as text or already parsed. */
  where?: string | WhereCondition;
  /** Names the condition's origin in errors (default "--where"). */
  whereLabel?: string;
  /** External instance ids (as Feishu knows them) to push again; excludes table and where. */
  instanceIds?: readonly string[];
  dryRun: boolean;
  /** How many external ids the result lists (default 0: only the count). */
  limit?: number;
}

export interface ResyncResult {
  instances: number;
  dryRun: boolean;
  /** The first `limit` selected instances' external ids, in order. */
  listed: string[];
}

/** Where a condition is evaluated: table -> the mappings whose instances it selects (null: any). */
export function whereTables(
  mappings: MappingSet,
  o: { mapping?: string; table?: string },
  columns: readonly string[],
  label: string,
): Map<TableName, ReadonlySet<string> | null> {
  const out = new Map<TableName, Set<string> | null>();
  if (o.table !== undefined) {
    if (!mappings.tables.has(o.table))
      throw new CdcError(
        'CONFIG_INVALID',
        `table ${o.table} is not read by any mapping; tables: ${[...mappings.tables.keys()].join(', ')}`,
      );
    out.set(o.table, null);
  } else {
    for (const name of o.mapping ? [o.mapping] : mappings.mappingNames) {
      const table = mappings.instanceTableOf?.(name);
      if (table === undefined) continue;
      const set = out.get(table) ?? new Set<string>();
      set.add(name);
      out.set(table, set);
    }
  }
  for (const table of out.keys()) {
    const use = mappings.tables.get(table);
    const known = [...new Set([...(use?.columns ?? []), ...(use?.keyColumns ?? [])])];
    for (const column of columns) {
      if (known.includes(column)) continue;
      const near = closestName(column, known);
      throw new CdcError(
        'CONFIG_INVALID',
        `${label} reads column ${column}, which the replica does not keep for ${table}${near ? ` (did you mean ${near}?)` : ''}; it keeps the columns the mappings read: ${known.join(', ')}${o.table === undefined ? ' (without --table a condition is over each mapping’s instance table)' : ''}`,
      );
    }
  }
  return out;
}

function checkMapping(o: Pick<ResyncOptions, 'mappings' | 'mapping'>): void {
  if (o.mapping && !o.mappings.mappingNames.includes(o.mapping)) {
    throw new CdcError(
      'CONFIG_INVALID',
      `no mapping named ${o.mapping}; mappings: ${o.mappings.mappingNames.join(', ')}`,
    );
  }
}

/** Ids (in the replica) of the selected instances. Reads only. */
export async function selectInstanceIds(o: Omit<ResyncOptions, 'dryRun'>): Promise<string[]> {
  checkMapping(o);
  const label = o.whereLabel ?? '--where';
  const condition = typeof o.where === 'string' ? parseWhereCondition(o.where, label) : o.where;
  if (o.instanceIds && (condition || o.table))
    throw new CdcError('CONFIG_INVALID', 'instance ids select on their own: drop --table and --where');
  const tables =
    condition || o.table !== undefined ? whereTables(o.mappings, o, condition?.columns ?? [], label) : null;
  return readOnly(o.db, async (db) => {
    const instances = new InstanceTable(db, o.schema);
    if (o.instanceIds) return byExternalId(instances, o.instanceIds, o.mapping);
    if (!tables) return instances.ids(o.mapping ?? null);
    const refs = new Map<string, InstanceRef>();
    for (const [table, of] of tables) {
      const match = condition ? filterSql(condition.filter) : sql`true`;
      const { rows } = await sql<{ data: Record<string, string | null> }>`select r.data
        from ${sql.id(o.schema, 'row_image')} r where r.tbl = ${table} and not r.deleted and ${match}`.execute(
        db,
      );
      for (const row of rows) {
        for (const ref of o.mappings.instancesOfRow(table, row.data)) {
          if (o.mapping && ref.mapping !== o.mapping) continue;
          if (of && !of.has(ref.mapping)) continue;
          refs.set(instanceIdOf(ref), ref);
        }
      }
    }
    return [...refs.keys()].sort();
  });
}

async function byExternalId(
  instances: InstanceTable,
  externalIds: readonly string[],
  mapping: string | undefined,
): Promise<string[]> {
  const ids: string[] = [];
  const unknown: string[] = [];
  for (const externalId of externalIds) {
    const records = (await instances.records({ externalId })).filter(
      (r) => !mapping || r.ref.mapping === mapping,
    );
    if (records.length === 0) unknown.push(externalId);
    ids.push(...records.map((r) => r.id));
  }
  if (unknown.length > 0)
    throw new CdcError(
      'CONFIG_INVALID',
      `no instance ${unknown.join(', ')} in the replica${mapping ? ` for mapping ${mapping}` : ''}; nothing was marked`,
    );
  return [...new Set(ids)];
}

const NUMBER_RE = '^\\s*-?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?\\s*$';

/** The Filter as a SQL predicate over `r.data`, values as parameters; two-valued like matchesFilter. */
function filterSql(f: WhereFilter): RawBuilder<boolean> {
  switch (f.kind) {
    case 'and':
    case 'or':
      return sql<boolean>`(${sql.join(
        f.items.map((i) => filterSql(i)),
        f.kind === 'and' ? sql` and ` : sql` or `,
      )})`;
    case 'not':
      return sql<boolean>`(not ${filterSql(f.item)})`;
    case 'is_null':
      return f.isNull
        ? sql<boolean>`((r.data ->> ${f.column}) is null)`
        : sql<boolean>`((r.data ->> ${f.column}) is not null)`;
    case 'eq':
      return sql<boolean>`coalesce((r.data ->> ${f.column}) = ${f.value}, false)`;
    case 'ne':
      return sql<boolean>`coalesce((r.data ->> ${f.column}) <> ${f.value}, false)`;
    case 'in':
      return sql<boolean>`coalesce((r.data ->> ${f.column}) = any(${[...f.values]}::text[]), false)`;
    case 'not_in':
      return sql<boolean>`coalesce((r.data ->> ${f.column}) <> all(${[...f.values]}::text[]), false)`;
    default: {
      // The operator comes from this fixed table, never from the condition's text.
      const op = sql.raw({ lt: '<', le: '<=', gt: '>', ge: '>=' }[f.kind]);
      return f.numeric
        ? sql<boolean>`coalesce(case when (r.data ->> ${f.column}) ~ ${NUMBER_RE}
            then (r.data ->> ${f.column})::numeric ${op} ${f.value}::numeric end, false)`
        : sql<boolean>`coalesce((r.data ->> ${f.column}) collate "C" ${op} ${f.value}, false)`;
    }
  }
}

/** Runs `work` in a READ ONLY transaction: whatever it executes cannot write. */
async function readOnly<T>(db: Kysely<StateDb>, work: (trx: Kysely<StateDb>) => Promise<T>): Promise<T> {
  // Inside a caller's transaction the mode is the caller's (it cannot change once a query ran); the
  // condition is still parameters only.
  if (db.isTransaction) return work(db);
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    return work(trx);
  });
}

async function externalIdsOf(
  db: Kysely<StateDb>,
  schema: string,
  ids: readonly string[],
  limit: number,
): Promise<string[]> {
  if (limit <= 0 || ids.length === 0) return [];
  const { rows } = await sql<{ external_id: string }>`select external_id from ${sql.id(schema, 'instance')}
    where id = any(${ids}::text[]) order by external_id, id limit ${limit}`.execute(db);
  return rows.map((r) => r.external_id);
}

export async function resync(o: ResyncOptions): Promise<ResyncResult> {
  const ids = await selectInstanceIds(o);
  if (!o.dryRun && ids.length > 0) await new InstanceTable(o.db, o.schema).requeue(ids);
  const listed = await readOnly(o.db, (db) => externalIdsOf(db, o.schema, ids, o.limit ?? 0));
  return { instances: ids.length, dryRun: o.dryRun, listed };
}
