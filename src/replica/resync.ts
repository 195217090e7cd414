// Selects instances to push again from the replica after a mapping change, without touching the
// legacy database. Invariant: it only marks instances dirty (backfill lane); what is pushed is
// decided by the scheduler from the replica like any other change. A dry run changes nothing.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from './state-schema.js';
import { CdcError } from '../errors.js';
import type { InstanceRef, MappingSet } from '../mapping/contract.js';
import { InstanceTable } from './instance-table.js';
import { instanceIdOf } from './instance-vocabulary.js';

export interface ResyncOptions {
  db: Kysely<StateDb>;
  schema: string;
  mappings: MappingSet;
  mapping?: string;
  /** Rows of this table (default: every table the mappings read) whose instances are resynced. */
  table?: string;
  /** SQL condition over the table's columns, all typed text (e.g. "status_code = '1'"). */
  where?: string;
  dryRun: boolean;
}

/** Ids of the instances whose rows of `table` (default: every mapped table) satisfy `where`. */
export async function selectInstanceIds(o: Omit<ResyncOptions, 'dryRun'>): Promise<string[]> {
  if (o.mapping && !o.mappings.mappingNames.includes(o.mapping)) {
    throw new CdcError(
      'CONFIG_INVALID',
      `no mapping named ${o.mapping}; mappings: ${o.mappings.mappingNames.join(', ')}`,
    );
  }
  if (!o.where && !o.table) return new InstanceTable(o.db, o.schema).ids(o.mapping ?? null);
  const tables = o.table ? [o.table] : [...o.mappings.tables.keys()];
  const refs = new Map<string, InstanceRef>();
  for (const table of tables) {
    const use = o.mappings.tables.get(table);
    if (!use) throw new CdcError('CONFIG_INVALID', `table ${table} is not read by any mapping`);
    const columns = [...new Set(use.columns)];
    const record = sql.raw(columns.map((c) => `"${c.replace(/"/g, '""')}" text`).join(', '));
    const condition = sql.raw(o.where ?? 'true');
    const { rows } = await sql<{
      data: Record<string, string | null>;
    }>`select r.data from ${sql.id(o.schema, 'row_image')} r,
        jsonb_to_record(r.data) as x(${record})
      where r.tbl = ${table} and not r.deleted and (${condition})`.execute(o.db);
    for (const row of rows) {
      for (const ref of o.mappings.instancesOfRow(table, row.data)) {
        if (!o.mapping || ref.mapping === o.mapping) refs.set(instanceIdOf(ref), ref);
      }
    }
  }
  return [...refs.keys()];
}

export async function resync(o: ResyncOptions): Promise<{ instances: number; dryRun: boolean }> {
  const ids = await selectInstanceIds(o);
  if (!o.dryRun && ids.length > 0) await new InstanceTable(o.db, o.schema).requeue(ids);
  return { instances: ids.length, dryRun: o.dryRun };
}
