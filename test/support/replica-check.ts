// Compares the replica with the live source: every live source row has exactly one live image with
// the same values, and no live image lacks a source row.
import type pg from 'pg';
import type { MappingSet } from '../../src/mapping/contract.js';
import { quoteTable } from '../../src/source/catalog.js';
import { RAW_TEXT } from '../../src/source/snapshot-copy.js';

export async function replicaDifferences(
  sql: pg.Pool,
  stateSchema: string,
  mappings: MappingSet,
  keys: Record<string, string[]>,
  /** The state database, when it is not the source's (`sql`). */
  state: pg.Pool = sql,
): Promise<string[]> {
  const problems: string[] = [];
  for (const [table, use] of mappings.tables) {
    const keyCols = keys[table];
    if (!keyCols) throw new Error(`no key columns given for ${table}`);
    const cols = [...new Set([...keyCols, ...use.columns])];
    const select = cols.map((c) => `"${c}"`).join(', ');
    const source = await sql.query<Record<string, string | null>>({
      text: `select ${select} from ${quoteTable(table)}`,
      types: RAW_TEXT,
    });
    const replica = await state.query<{ pk: string; data: Record<string, string | null> }>(
      `select pk, data from "${stateSchema}".row_image where tbl = $1 and not deleted`,
      [table],
    );
    const images = new Map(replica.rows.map((r) => [r.pk, r.data]));
    for (const row of source.rows) {
      const pk = JSON.stringify(keyCols.map((k) => row[k]));
      const image = images.get(pk);
      if (!image) {
        problems.push(`${table} ${pk}: missing from the replica`);
        continue;
      }
      images.delete(pk);
      for (const c of cols)
        if ((image[c] ?? null) !== row[c])
          problems.push(
            `${table} ${pk}.${c}: replica ${JSON.stringify(image[c])}, source ${JSON.stringify(row[c])}`,
          );
    }
    for (const pk of images.keys())
      problems.push(`${table} ${pk}: live in the replica, gone from the source`);
  }
  return problems;
}

export const LEGACY_KEYS: Record<string, string[]> = {
  'oa.requests': ['req_id'],
  'oa.steps': ['step_id'],
  'oa.cc': ['cc_no'],
  'oa.users': ['user_no'],
};
