// Copies the mapped tables into the replica under the slot's exported snapshot, in keyset pages.
// Invariants: rows are read with their exact text output; a copied row never overwrites an image the
// stream wrote; progress (last key per table) is saved after each page, so an interrupted copy
// resumes where it stopped. A resumed copy reads the remaining pages under a fresh snapshot: that is
// safe because streaming then replays from the slot's consistent point, and every change after it
// lands on top of whatever the copy wrote (images only move forward by LSN).
import pg from 'pg';
import type { ReplicaWriter } from '../replica/replica-writer.js';
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
  writer: ReplicaWriter;
  progress: CopyProgress;
  saveProgress(progress: CopyProgress): Promise<void>;
  pageSize?: number;
  onPage?(table: string, progress: TableProgress): void;
  /** Called after each page; throwing aborts the copy (used by tests to kill it halfway). */
  afterPage?(table: string, copied: number): void | Promise<void>;
}

export const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

interface ColumnType {
  name: string;
  type: string;
}

export async function copySnapshot(options: SnapshotCopyOptions): Promise<CopyProgress> {
  const pageSize = options.pageSize ?? 5000;
  // Every value as Postgres prints it (booleans t/f, char(n) padded), exactly like the stream sends it.
  const client = new pg.Client({
    connectionString: options.sourceUrl,
    application_name: 'approval-cdc-copy',
    types: RAW_TEXT,
  });
  client.on('error', () => undefined);
  await client.connect();
  const progress: CopyProgress = structuredClone(options.progress);
  try {
    await client.query('begin isolation level repeatable read read only');
    if (options.snapshotName) await client.query(`set transaction snapshot '${options.snapshotName}'`);
    // Every table is listed with its estimated size before the first row is copied, so progress
    // (status, log, metrics) shows the tables still waiting and a total to measure against.
    for (const table of options.tables.keys()) {
      const state = (progress[table] ??= { done: false, lastKey: null, rows: 0 });
      if (!state.done && state.total === undefined) state.total = await estimateRows(client, table);
    }
    await options.saveProgress(progress);
    for (const [table, spec] of options.tables) {
      const state = (progress[table] ??= { done: false, lastKey: null, rows: 0 });
      if (state.done) continue;
      state.startedAt ??= new Date().toISOString();
      options.onPage?.(table, state);
      const columns = await existingColumns(client, table, [
        ...new Set([...spec.keyColumns, ...spec.columns]),
      ]);
      const keyTypes = spec.keyColumns.map(
        (k) => columns.find((c) => c.name === k) ?? { name: k, type: 'text' },
      );
      const select = columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
      // Qualified, so ORDER BY sorts by the typed column and not by its text alias ("30" > "270").
      const keyList = keyTypes.map((k) => `t.${quoteIdent(k.name)}`).join(', ');
      for (;;) {
        const params: unknown[] = [];
        let where = '';
        if (state.lastKey) {
          const casts = keyTypes.map((k, i) => {
            params.push(state.lastKey?.[i] ?? null);
            return `$${i + 1}::${k.type}`;
          });
          where = `where (${keyList}) > (${casts.join(', ')})`;
        }
        const { rows } = await client.query<Record<string, string | null>>(
          `select ${select} from ${quoteTable(table)} t ${where} order by ${keyList} limit ${pageSize}`,
          params,
        );
        if (rows.length > 0) {
          await options.writer.applySnapshotRows(table, rows, options.snapshotLsn);
          const last = rows[rows.length - 1] ?? {};
          state.lastKey = spec.keyColumns.map((k) => last[k] ?? null);
          state.rows += rows.length;
        }
        if (rows.length < pageSize) state.done = true;
        await options.saveProgress(progress);
        options.onPage?.(table, state);
        await options.afterPage?.(table, state.rows);
        if (state.done) break;
      }
    }
    await client.query('commit');
    return progress;
  } finally {
    await client.end().catch(() => undefined);
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
