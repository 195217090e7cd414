// Answers the mapping's row queries from the live source tables instead of the replica: used by
// `mappings preview --live` before any setup, and by tests to compute what Feishu should hold.
// Read-only; values are read as exact text, like the stream delivers them.
import type pg from 'pg';
import { isVirtualQuery } from '../mapping/virtual-tables.js';
import type { InstanceRef, MappingSet, RowImage, RowQuery } from '../mapping/contract.js';
import { LoadedRows } from '../replica/row-loader.js';
import { quoteTable } from './catalog.js';
import { RAW_TEXT } from './snapshot-copy.js';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function selectRows(
  client: pg.ClientBase,
  mappings: MappingSet,
  table: string,
  where: string,
  params: unknown[],
): Promise<RowImage[]> {
  const use = mappings.tables.get(table);
  const { rows: cols } = await client.query<{ attname: string }>(
    `select attname from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped`,
    [quoteTable(table)],
  );
  const wanted = use ? new Set(use.columns) : null;
  const list = cols.map((c) => c.attname).filter((c) => !wanted || wanted.has(c));
  const select = list.map((c) => q(c)).join(', ');
  // Raw text output, as the stream delivers it (t/f booleans, padded char(n)).
  const { rows } = await client.query<Record<string, string | null>>({
    text: `select ${select} from ${quoteTable(table)} ${where}`,
    values: params,
    types: RAW_TEXT,
  });
  return rows;
}

export async function loadInstanceRowsLive(
  client: pg.ClientBase,
  mappings: MappingSet,
  ref: InstanceRef,
): Promise<LoadedRows> {
  const loaded = new LoadedRows();
  for (let round = 0; round < 8; round++) {
    // Definitions and identities live in the state database, not in the source: left unloaded here.
    const wanted = mappings
      .queriesFor(ref, loaded)
      .filter((query) => !loaded.has(query) && !isVirtualQuery(query));
    if (wanted.length === 0) break;
    for (const query of wanted)
      loaded.set(
        query,
        (await queryRows(client, mappings, query)).map((values) => ({ values, deleted: false })),
      );
  }
  return loaded;
}

async function queryRows(client: pg.ClientBase, mappings: MappingSet, query: RowQuery): Promise<RowImage[]> {
  const entries = Object.entries(query.match);
  // Untyped parameters take the column's type, so '1' matches an integer and 't' a boolean.
  const where =
    entries.length === 0 ? '' : `where ${entries.map(([c], i) => `${q(c)} = $${i + 1}`).join(' and ')}`;
  return selectRows(
    client,
    mappings,
    query.table,
    where,
    entries.map(([, v]) => v),
  );
}

/** Every instance the live source rows belong to. */
export async function liveInstanceRefs(
  client: pg.ClientBase,
  mappings: MappingSet,
): Promise<Map<string, InstanceRef>> {
  const refs = new Map<string, InstanceRef>();
  for (const table of mappings.tables.keys()) {
    for (const row of await selectRows(client, mappings, table, '', [])) {
      for (const ref of mappings.instancesOfRow(table, row))
        refs.set(JSON.stringify([ref.mapping, ...ref.key]), ref);
    }
  }
  return refs;
}
