// The loaded mappings as the rest of the connector sees them (contract.ts MappingSet): which
// instances a row belongs to, which rows read it through lookups, which rows a build needs, and the
// build itself, and the way back from an external id to its instance. Invariants: queriesFor asks for
// exactly what build reads: it runs the same build with a loader that records each query not loaded
// yet, so the two can never disagree; refOfExternalId only answers a ref that externalId maps back
// to the same id.
import type {
  BuildResult,
  InstanceRankOfRow,
  InstanceRef,
  LoadedRow,
  MappingSet,
  RowImage,
  RowLookup,
  RowQuery,
  SourceRef,
  TableName,
  TableUse,
} from './contract.js';
import { indexColumnOf, rowQueryKey } from './contract.js';
import type { LoopConfig } from './loop-config.js';
import { approvalCodesOf, type ApprovalCodes } from './approval-codes.js';
import type { CompiledMapping } from './compiled-mapping.js';
import { evaluate, type Expr } from './expression.js';
import { matchesFilter } from './filter.js';
import { invertIdTemplate } from './id-templates.js';
import { rankInstanceRow } from './instance-rank.js';
import { buildPayload, childQuery, instanceQuery } from './payload-builder.js';
import { CdcError } from '../errors.js';

// Called for every row image a change touches: arrays are made at their final size (a pushed-to
// empty array reserves room for 17 elements), which was most of the ingest's garbage here.
/** Values of `columns` in `row`, or undefined when one is null (a row without a key belongs nowhere). */
function valuesOf(row: RowImage, columns: readonly string[]): string[] | undefined {
  const out = new Array<string>(columns.length);
  for (let i = 0; i < columns.length; i++) {
    const v = row[columns[i] as string];
    if (v === null || v === undefined) return undefined;
    out[i] = v;
  }
  return out;
}

const NO_QUERIES: readonly RowQuery[] = Object.freeze([]);

/** The first match column of every query shape: instance keys, child links, lookup keys, lookup sources. */
function queryColumnsOf(mappings: readonly CompiledMapping[]): string[] {
  const columns = new Set<string>();
  const add = (shape: readonly string[]): void => {
    const first = indexColumnOf(shape);
    if (first !== undefined) columns.add(first);
  };
  for (const m of mappings) {
    add(m.instance.key);
    for (const child of [...m.tasks, ...m.ccs]) add(child.parent);
    for (const usage of m.lookupUsages) {
      add(usage.lookup.key);
      add(usage.by.flatMap((part) => ('column' in part ? [part.column] : [])));
    }
  }
  return [...columns].sort();
}

function sameKey(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export class CompiledMappingSet implements MappingSet {
  readonly tables: ReadonlyMap<TableName, TableUse>;
  readonly mappingNames: readonly string[];
  readonly queryColumns: readonly string[];
  readonly #mappings: ReadonlyMap<string, CompiledMapping>;
  /** Per table, the ways its rows belong to an instance (instance row, task, CC): read per change. */
  readonly #roles = new Map<
    TableName,
    { mapping: string; where: CompiledMapping['instance']['where']; key: readonly string[] }[]
  >();
  /** Per lookup table, the lookups that read it. */
  readonly #usages = new Map<TableName, { usage: CompiledMapping['lookupUsages'][number] }[]>();

  constructor(mappings: readonly CompiledMapping[]) {
    this.#mappings = new Map(mappings.map((m) => [m.name, m]));
    for (const m of mappings) {
      const role = (
        table: TableName,
        where: CompiledMapping['instance']['where'],
        key: readonly string[],
      ) => {
        const list = this.#roles.get(table) ?? [];
        list.push({ mapping: m.name, where, key });
        this.#roles.set(table, list);
      };
      role(m.instance.table, m.instance.where, m.instance.key);
      for (const child of [...m.tasks, ...m.ccs]) role(child.table, child.where, child.parent);
      for (const usage of m.lookupUsages) {
        const list = this.#usages.get(usage.lookup.table) ?? [];
        list.push({ usage });
        this.#usages.set(usage.lookup.table, list);
      }
    }
    this.mappingNames = mappings.map((m) => m.name);
    const tables = new Map<TableName, { columns: Set<string>; keyColumns?: readonly string[] }>();
    for (const m of mappings) {
      for (const [table, use] of m.tables) {
        let t = tables.get(table);
        if (!t) tables.set(table, (t = { columns: new Set() }));
        for (const c of use.columns) t.columns.add(c);
        if (use.keyColumns && !t.keyColumns) t.keyColumns = use.keyColumns;
      }
    }
    this.queryColumns = queryColumnsOf(mappings);
    this.tables = new Map(
      [...tables]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([table, t]) => {
          const use: TableUse = t.keyColumns
            ? { table, columns: [...t.columns].sort(), keyColumns: t.keyColumns }
            : { table, columns: [...t.columns].sort() };
          return [table, use];
        }),
    );
  }

  sourceRefs(): readonly SourceRef[] {
    const seen = new Set<string>();
    const out: SourceRef[] = [];
    for (const m of this.#mappings.values())
      for (const r of m.placedRefs ?? []) {
        const id = JSON.stringify([r.table, r.column]);
        if (seen.has(id)) continue;
        seen.add(id);
        out.push(r);
      }
    return out;
  }

  loopOf(mapping: string): LoopConfig | undefined {
    return this.#mappings.get(mapping)?.loop;
  }

  taskKeyOf(mapping: string, taskId: string): Readonly<Record<string, string>> | null {
    for (const task of this.#mappings.get(mapping)?.tasks ?? []) {
      const found = invertIdTemplate(task.id, taskId, 2);
      if (found.length === 1) return found[0] ?? null;
    }
    return null;
  }

  /** The compiled form of a mapping (for previews and tests). */
  mapping(name: string): CompiledMapping | undefined {
    return this.#mappings.get(name);
  }

  instancesOfRow(table: TableName, row: RowImage): InstanceRef[] {
    const roles = this.#roles.get(table);
    if (!roles) return [];
    // Rows usually belong to one instance: its array is made for one (see valuesOf), and keys are
    // compared only when there are several.
    let out: InstanceRef[] | undefined;
    for (const role of roles) {
      if (!matchesFilter(role.where, row)) continue;
      const key = valuesOf(row, role.key);
      if (!key) continue;
      if (!out) out = [{ mapping: role.mapping, key }];
      else if (!out.some((r) => r.mapping === role.mapping && sameKey(r.key, key)))
        out.push({ mapping: role.mapping, key });
    }
    return out ?? [];
  }

  dependentsOfRow(table: TableName, row: RowImage): readonly RowQuery[] {
    const usages = this.#usages.get(table);
    if (!usages) return NO_QUERIES;
    const out = new Map<string, RowQuery>();
    for (const { usage } of usages) {
      const match: Record<string, string> = {};
      let ok = true;
      usage.by.forEach((part, i) => {
        const v = row[usage.lookup.key[i] ?? ''] ?? null;
        if (v === null) ok = false;
        else if ('const' in part) ok &&= part.const === v;
        else if (match[part.column] !== undefined && match[part.column] !== v) ok = false;
        else match[part.column] = v;
      });
      if (!ok || Object.keys(match).length === 0) continue;
      const q = { table: usage.fromTable, match };
      out.set(rowQueryKey(q), q);
    }
    return [...out.values()];
  }

  queriesFor(ref: InstanceRef, loaded: RowLookup): RowQuery[] {
    const m = this.#mappings.get(ref.mapping);
    if (!m || ref.key.length !== m.instance.key.length) return [];
    const out = new Map<string, RowQuery>();
    const add = (q: RowQuery): void => void out.set(rowQueryKey(q), q);
    add(instanceQuery(m, ref.key));
    for (const child of [...m.tasks, ...m.ccs]) add(childQuery(child, ref.key));
    if (loaded.rows(instanceQuery(m, ref.key)) === undefined) return [...out.values()];
    buildPayload(m, ref, (q) => {
      const rows = loaded.rows(q);
      if (rows === undefined) add(q);
      return rows ?? [];
    });
    return [...out.values()];
  }

  build(ref: InstanceRef, loaded: RowLookup): BuildResult {
    const m = this.#mappings.get(ref.mapping);
    if (!m)
      return { kind: 'unmappable', reason: `no mapping named ${JSON.stringify(ref.mapping)} is loaded` };
    return buildPayload(m, ref, (q) => loaded.rows(q));
  }

  externalId(ref: InstanceRef): string {
    const m = this.#mappings.get(ref.mapping);
    if (!m)
      throw new CdcError('MAPPING_UNMAPPABLE', `no mapping named ${JSON.stringify(ref.mapping)} is loaded`);
    const row = Object.fromEntries(m.instance.key.map((k, i) => [k, ref.key[i] ?? null]));
    const id = evaluate(m.instance.id, { row, load: () => [] as LoadedRow[], notes: [] });
    if (id === null)
      throw new CdcError(
        'MAPPING_UNMAPPABLE',
        `instance key ${JSON.stringify(ref.key)} of ${m.name} is incomplete`,
      );
    return id;
  }

  refOfExternalId(id: string): InstanceRef | null {
    const found: InstanceRef[] = [];
    for (const m of this.#mappings.values()) {
      for (const values of invertIdTemplate(m.instance.id, id)) {
        const key = m.instance.key.map((k) => values[k]);
        if (key.every((v): v is string => v !== undefined)) found.push({ mapping: m.name, key });
      }
      if (found.length > 1) return null;
    }
    const ref = found[0];
    return ref && this.externalId(ref) === id ? ref : null;
  }

  definitionKeys(): string[] {
    const keys = new Set<string>();
    const constants = (e: Expr): string[] => {
      switch (e.op) {
        case 'const':
          return e.value === null ? [] : [e.value];
        case 'map':
          return [
            ...[...e.values.values()].filter((v): v is string => v !== null),
            ...(e.fallback ? constants(e.fallback) : []),
          ];
        case 'when':
          return [...e.cases.flatMap((c) => constants(c.then)), ...constants(e.otherwise)];
        case 'coalesce':
          return e.items.flatMap(constants);
        default:
          return [];
      }
    };
    const walk = (e: Expr): void => {
      if (e.op === 'definition') for (const k of constants(e.key)) keys.add(k);
      else if (e.op === 'when') [...e.cases.map((c) => c.then), e.otherwise].forEach(walk);
      else if (e.op === 'coalesce') e.items.forEach(walk);
    };
    for (const m of this.#mappings.values()) walk(m.instance.approvalCode);
    return [...keys].sort();
  }

  approvalCodes(): ApprovalCodes {
    return approvalCodesOf(this.#mappings.values());
  }

  instanceTableOf(mapping: string): TableName | undefined {
    return this.#mappings.get(mapping)?.instance.table;
  }

  instanceRank(table: TableName, row: RowImage): InstanceRankOfRow | null {
    for (const m of this.#mappings.values()) {
      if (m.instance.table !== table || !matchesFilter(m.instance.where, row)) continue;
      const key = valuesOf(row, m.instance.key);
      if (key) return { ref: { mapping: m.name, key }, ...rankInstanceRow(m.instance, row) };
    }
    return null;
  }
}
