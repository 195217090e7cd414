// The contract between the mapping stage and the rest of the connector. The replica stores row images
// (exact Postgres text per column) and answers RowQuery lookups; the mapping says which instances a
// row belongs to, which rows an instance needs, and builds the payload from them. Everything here is
// pure: no clock, no I/O.
import type { ExternalInstance, UpdateMode } from '../feishu/external-instance.js';
import type { LoopConfig } from './loop-config.js';

/** A column value as Postgres prints it (text output of the type); null is SQL NULL. */
export type CellValue = string | null;

/** One row image: column name -> exact text. */
export type RowImage = Readonly<Record<string, CellValue>>;

/** A table name qualified as "schema.table" (unquoted, as in the catalog). */
export type TableName = string;

/** "All live or deleted rows of `table` whose columns equal `match`" (values compared as text). */
export interface RowQuery {
  readonly table: TableName;
  readonly match: Readonly<Record<string, string>>;
}

/** One key per query, whatever the order of its match columns: for maps and sets of queries. */
export function rowQueryKey(q: RowQuery): string {
  return JSON.stringify([q.table, Object.entries(q.match).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}

/** The column a query is looked up by (the replica indexes it): its first match column in code-point order. */
export function indexColumnOf(matchColumns: Iterable<string>): string | undefined {
  let first: string | undefined;
  for (const c of matchColumns) if (first === undefined || c < first) first = c;
  return first;
}

/** A row as the replica holds it: a deleted row keeps its last image as a tombstone. */
export interface LoadedRow {
  readonly values: RowImage;
  readonly deleted: boolean;
}

/** The rows loaded so far for one instance build. */
export interface RowLookup {
  /** Rows answering a query, or undefined when the query was not loaded. */
  rows(query: RowQuery): readonly LoadedRow[] | undefined;
}

/** An instance of one mapping, identified by the values of the instance source's key columns. */
export interface InstanceRef {
  readonly mapping: string;
  readonly key: readonly string[];
}

/** A table (column null) or one of its columns as first named in a mapping file. */
export interface SourceRef {
  readonly table: TableName;
  readonly column: string | null;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted path in the file, e.g. `mappings[0].instance.links.pc_link`. */
  readonly path: string;
}

/** What the replica must keep of one table the mappings read. */
export interface TableUse {
  readonly table: TableName;
  /** Columns any mapping reads from this table (the replica stores only these plus the key). */
  readonly columns: readonly string[];
  /** Row identity columns declared by the mapping; undefined = the table's primary key. */
  readonly keyColumns?: readonly string[];
}

export type BuildResult =
  | {
      readonly kind: 'payload';
      readonly payload: ExternalInstance;
      /** How to send it; REPLACE unless the mapping asks for UPDATE. */
      readonly updateMode: UpdateMode;
    }
  /** The instance row was never seen (nothing to push, nothing to delete). */
  | { readonly kind: 'absent' }
  /** The rows cannot be mapped: the instance is parked with this reason. */
  | {
      readonly kind: 'unmappable';
      readonly reason: string;
      /**
       * The instance row is a tombstone: a deletion the replica may have seen without the row (its
       * image holds the key only), so Feishu may never have held the instance.
       */
      readonly deletedRow?: true;
    };

export interface MappingSet {
  /** Every table any mapping reads, keyed by TableName. */
  readonly tables: ReadonlyMap<TableName, TableUse>;
  /** The names of the loaded mappings. */
  readonly mappingNames: readonly string[];
  /**
   * Every column a RowQuery of these mappings can be looked up by: the first match column (in
   * code-point order) of each query shape. The replica keeps an index per column.
   */
  readonly queryColumns: readonly string[];
  /** Instances a row image belongs to directly (as instance, task, CC or form row). */
  instancesOfRow(table: TableName, row: RowImage): InstanceRef[];
  /** Rows whose instances read this row through a lookup (e.g. requests whose applicant is this user). */
  dependentsOfRow(table: TableName, row: RowImage): readonly RowQuery[];
  /** The queries needed to build `ref` given what is loaded; call again after loading until all are loaded. */
  queriesFor(ref: InstanceRef, loaded: RowLookup): RowQuery[];
  /** The Feishu payload of `ref`, built from loaded rows only. */
  build(ref: InstanceRef, loaded: RowLookup): BuildResult;
  /** The external instance_id Feishu knows `ref` by. */
  externalId(ref: InstanceRef): string;
  /**
   * The inverse of externalId: the one instance whose instance_id is `id`, found from the id
   * templates alone (they read exactly the key columns). Null when no mapping's template renders
   * `id`, or when it can be read in more than one way (several mappings over one table sharing a
   * template, or adjacent placeholders).
   */
  refOfExternalId?(id: string): InstanceRef | null;
  /**
   * Backfill priority of the instance `row` of `table` is the instance row of: whether it is open
   * (status PENDING) and its start_time in epoch ms, evaluated on this row alone (no lookups). A
   * status or start time that needs other rows or fails ranks as open = true / startMs = 0. Null when
   * the row is no instance row (not an instance table, filtered out by `where`, or a NULL key).
   */
  instanceRank?(table: TableName, row: RowImage): InstanceRankOfRow | null;
  /** Definition keys the mappings name through `{ definition: … }` (constants only). */
  definitionKeys?(): string[];
  /** Where the mappings name each table and column (file:line:col), to check them against a catalog. */
  sourceRefs?(): readonly SourceRef[];
  /** The table whose rows are the instances of `mapping`. */
  instanceTableOf?(mapping: string): TableName | undefined;
  /** Bot cards and quick approval of `mapping` (issue 18); undefined when it declares neither. */
  loopOf?(mapping: string): LoopConfig | undefined;
  /** The values of the task id template's placeholders in `taskId` (e.g. { step_id: '1001' }), or null. */
  taskKeyOf?(mapping: string, taskId: string): Readonly<Record<string, string>> | null;
  /**
   * The approval codes the mappings can push (literal values of their approval_code), and the
   * mappings whose code is computed from row data and cannot be listed.
   */
  approvalCodes?(): { codes: string[]; computed: string[] };
}

/** What instanceRank tells about an instance row. */
export interface InstanceRankOfRow {
  readonly ref: InstanceRef;
  readonly open: boolean;
  readonly startMs: number;
  /** update_time in epoch ms, 0 when it cannot be told from the row. */
  readonly updateMs: number;
}
