// Compiles one validated mapping file into CompiledMappings, checking what zod cannot: expressions,
// filters, lookups, time zones, locales, ids. Problems carry paths; the loader adds lines.
// Invariants checked here: an instance id template reads exactly the instance key columns (so
// externalId needs the key only); the id templates of one mapping never overlap (id-templates.ts);
// a table read as a source has one key, whichever source reads it.
import type { Expr, LookupDef } from './expression.js';
import {
  parseText,
  parseValue,
  type Allowed,
  type LookupEntry,
  type LookupUsage,
  type ParseContext,
  type Scope,
} from './expression-parser.js';
import { parseFilter, type Filter } from './filter.js';
import { FEISHU_LOCALES } from './i18n-collector.js';
import { compileId, formatRef, idOverlap, type IdTemplate } from './id-templates.js';
import { describeFound, type PathKey, type PathProblem } from './mapping-problem.js';
import type {
  CcDoc,
  InstanceDoc,
  LinksDoc,
  LookupDoc,
  MappingDoc,
  MappingFile,
  TaskDoc,
} from './mapping-schema.js';
import { isValidTimeZone } from './time-conversion.js';
import {
  DISPLAY_METHODS,
  INSTANCE_STATUSES,
  READ_STATUSES,
  TASK_STATUSES,
  type CompiledCc,
  type CompiledInstance,
  type CompiledLinks,
  type CompiledMapping,
  type CompiledSource,
  type CompiledTask,
} from './compiled-mapping.js';

export const DEFAULT_LOCALE = 'zh-CN';

const list = (v: string | readonly string[]): readonly string[] => (typeof v === 'string' ? [v] : v);

export interface CompileResult {
  readonly mappings: CompiledMapping[];
  readonly problems: PathProblem[];
}

export function compileMappingFile(doc: MappingFile, file: string): CompileResult {
  const problems: PathProblem[] = [];
  const defaults = doc.defaults ?? {};
  checkOptions(defaults, ['defaults'], problems);
  const fileLookups = compileLookups(doc.lookups ?? {}, ['lookups'], new Map(), problems);
  const mappings: CompiledMapping[] = [];
  doc.mappings.forEach((m, i) => {
    const compiled = compileMapping(m, ['mappings', i], file, defaults, fileLookups, problems);
    if (compiled) mappings.push(compiled);
  });
  return { mappings, problems };
}

type Options = Pick<MappingDoc, 'time_zone' | 'default_locale' | 'update_mode' | 'null_in_templates'>;

function checkOptions(o: Options, path: readonly PathKey[], problems: PathProblem[]): boolean {
  let ok = true;
  if (o.time_zone !== undefined && !isValidTimeZone(o.time_zone)) {
    problems.push({
      path: [...path, 'time_zone'],
      found: describeFound(o.time_zone),
      expected: 'an IANA time zone such as Asia/Shanghai',
    });
    ok = false;
  }
  if (o.default_locale !== undefined && !FEISHU_LOCALES.includes(o.default_locale)) {
    problems.push({
      path: [...path, 'default_locale'],
      found: describeFound(o.default_locale),
      expected: `one of ${FEISHU_LOCALES.join(', ')}`,
    });
    ok = false;
  }
  return ok;
}

function compileLookups(
  docs: Readonly<Record<string, LookupDoc>>,
  path: readonly PathKey[],
  inherited: ReadonlyMap<string, LookupEntry>,
  problems: PathProblem[],
): Map<string, LookupEntry> {
  const out = new Map(inherited);
  for (const [name, l] of Object.entries(docs)) {
    if (inherited.has(name)) {
      problems.push({
        path: [...path, name],
        at: 'key',
        found: `lookup "${name}" declared again`,
        expected: 'a name not used by a lookup of the file',
      });
      continue;
    }
    const entry: LookupEntry = l.columns
      ? { name, table: l.table, key: list(l.key), declared: new Set(l.columns) }
      : { name, table: l.table, key: list(l.key) };
    out.set(name, entry);
  }
  return out;
}

class Collector {
  readonly tables = new Map<
    string,
    { columns: Set<string>; keyColumns?: readonly string[]; keyPath?: readonly PathKey[] }
  >();
  readonly usages: LookupUsage[] = [];
  use(table: string, column: string): void {
    let t = this.tables.get(table);
    if (!t) this.tables.set(table, (t = { columns: new Set() }));
    t.columns.add(column);
  }
  key(table: string, key: readonly string[], path: readonly PathKey[], problems: PathProblem[]): void {
    for (const c of key) this.use(table, c);
    const t = this.tables.get(table);
    if (!t) return;
    if (t.keyColumns && t.keyColumns.join() !== key.join()) {
      problems.push({
        path,
        found: `key ${key.join(', ')} for ${table}`,
        expected: `the key declared before for it (${t.keyColumns.join(', ')}, at ${formatRef(t.keyPath ?? [])})`,
      });
    } else if (!t.keyColumns) {
      t.keyColumns = key;
      t.keyPath = path;
    }
  }
}

function compileMapping(
  m: MappingDoc,
  path: readonly PathKey[],
  file: string,
  defaults: Options,
  fileLookups: ReadonlyMap<string, LookupEntry>,
  problems: PathProblem[],
): CompiledMapping | undefined {
  const before = problems.length;
  checkOptions(m, path, problems);
  // An invalid zone is reported once, here; time operators then stay quiet about it.
  const timeZone = m.time_zone ?? defaults.time_zone;
  const defaultLocale = m.default_locale ?? defaults.default_locale ?? DEFAULT_LOCALE;
  const lookups = compileLookups(m.lookups ?? {}, [...path, 'lookups'], fileLookups, problems);
  const collector = new Collector();
  const base = {
    problems,
    nullInTemplates: m.null_in_templates ?? defaults.null_in_templates ?? 'empty',
    timeZone,
    defaultLocale,
    lookups,
    useColumn: (t: string, c: string) => collector.use(t, c),
    useLookup: (u: LookupUsage) => collector.usages.push(u),
  } as const;
  const ctxFor = (
    table: string,
    declared: readonly string[] | undefined,
    always: readonly string[],
  ): ParseContext => {
    const scope: Scope = declared
      ? { table, declared: new Set(declared), always: new Set(always) }
      : { table };
    return { ...base, scope };
  };

  const inst = m.instance;
  const instPath = [...path, 'instance'];
  const instKey = list(inst.key);
  collector.key(inst.table, instKey, [...instPath, 'key'], problems);
  const ictx = ctxFor(inst.table, inst.columns, instKey);
  const ids: IdTemplate[] = [{ path: [...instPath, 'id'], template: inst.id, table: inst.table }];
  const instance = compileInstance(inst, instPath, ictx, instKey);

  const tasks: CompiledTask[] = [];
  (m.tasks ?? []).forEach((t, i) => {
    const p = [...path, 'tasks', i];
    const compiled = compileTask(t, p, instKey, collector, ctxFor, problems);
    ids.push({ path: [...p, 'id'], template: t.id, table: t.table });
    if (compiled) tasks.push(compiled);
  });
  const ccs: CompiledCc[] = [];
  (m.ccs ?? []).forEach((c, i) => {
    const p = [...path, 'ccs', i];
    const compiled = compileCc(c, p, instKey, collector, ctxFor, problems);
    ids.push({ path: [...p, 'id'], template: c.id, table: c.table });
    if (compiled) ccs.push(compiled);
  });
  ids.forEach((b, j) => {
    const clash = ids
      .slice(0, j)
      .map((a) => idOverlap(a, b, 'an id template'))
      .find((x) => x !== undefined);
    if (clash) problems.push(clash);
  });

  if (!instance || problems.length > before) return undefined;
  const lookupDefs: LookupDef[] = [...lookups.values()].map((l) => ({
    name: l.name,
    table: l.table,
    key: l.key,
  }));
  return {
    name: m.name,
    file,
    updateMode: m.update_mode ?? defaults.update_mode ?? 'REPLACE',
    defaultLocale,
    instance,
    tasks,
    ccs,
    tables: collector.tables,
    lookupUsages: collector.usages,
    lookups: lookupDefs,
  };
}

const STATUS: Allowed = { values: INSTANCE_STATUSES };
const DISPLAY: Allowed = { values: DISPLAY_METHODS };

function opt<T>(raw: unknown, parse: (raw: unknown) => T | undefined): T | undefined | null {
  if (raw === undefined) return undefined;
  return parse(raw) ?? null; // null marks a failed parse (a problem is recorded)
}

function compileLinks(
  raw: LinksDoc | undefined,
  path: readonly PathKey[],
  ctx: ParseContext,
): CompiledLinks | undefined | null {
  if (!raw) return undefined;
  const pcLink = parseValue(raw.pc_link, [...path, 'pc_link'], ctx);
  const mobileLink = opt(raw.mobile_link, (r) => parseValue(r, [...path, 'mobile_link'], ctx));
  if (!pcLink || mobileLink === null) return null;
  return mobileLink ? { pcLink, mobileLink } : { pcLink };
}

function compileExtra(
  raw: Readonly<Record<string, unknown>> | undefined,
  path: readonly PathKey[],
  ctx: ParseContext,
): [string, Expr][] | null {
  const out: [string, Expr][] = [];
  for (const [k, v] of Object.entries(raw ?? {})) {
    const e = parseValue(v, [...path, k], ctx);
    if (!e) return null;
    out.push([k, e]);
  }
  return out;
}

/** The parts shared by instance, task and CC sources; null when a problem was recorded. */
function compileSourceBase(
  doc: InstanceDoc | TaskDoc | CcDoc,
  path: readonly PathKey[],
  ctx: ParseContext,
  key: readonly string[],
): Omit<CompiledSource, 'id'> | null {
  const before = ctx.problems.length;
  const where: Filter | undefined =
    doc.where === undefined
      ? undefined
      : parseFilter(doc.where, [...path, 'where'], {
          problems: ctx.problems,
          useColumn: (c, p) => {
            if (!ctx.scope.declared || ctx.scope.declared.has(c) || ctx.scope.always?.has(c))
              ctx.useColumn(ctx.scope.table, c);
            else
              ctx.problems.push({
                path: p,
                at: 'key',
                found: `column "${c}" which is not declared for ${ctx.scope.table}`,
                expected: `one of ${[...(ctx.scope.always ?? []), ...ctx.scope.declared].join(', ')}`,
              });
          },
        });
  const userId = opt(doc.user_id, (r) => parseValue(r, [...path, 'user_id'], ctx));
  const openId = opt(doc.open_id, (r) => parseValue(r, [...path, 'open_id'], ctx));
  const links = compileLinks(doc.links, [...path, 'links'], ctx);
  const extra = compileExtra(doc.extra, [...path, 'extra'], ctx);
  const displayMethod = opt(doc.display_method, (r) =>
    parseValue(r, [...path, 'display_method'], ctx, DISPLAY),
  );
  if (
    ctx.problems.length > before ||
    userId === null ||
    openId === null ||
    links === null ||
    extra === null ||
    displayMethod === null
  )
    return null;
  return {
    table: doc.table,
    key,
    ...(where && { where }),
    ...(userId && { userId }),
    ...(openId && { openId }),
    ...(links && { links }),
    extra,
    ...(displayMethod && { displayMethod }),
  };
}

function compileInstance(
  doc: InstanceDoc,
  path: readonly PathKey[],
  ctx: ParseContext,
  key: readonly string[],
): CompiledInstance | undefined {
  const before = ctx.problems.length;
  const baseParts = compileSourceBase(doc, path, ctx, key);
  const id = compileId(doc.id, [...path, 'id'], ctx, key, true);
  const approvalCode = parseValue(doc.approval_code, [...path, 'approval_code'], ctx);
  const status = parseValue(doc.status, [...path, 'status'], ctx, STATUS);
  const title = opt(doc.title, (r) => parseText(r, [...path, 'title'], ctx));
  const userName = opt(doc.user_name, (r) => parseText(r, [...path, 'user_name'], ctx));
  const departmentId = opt(doc.department_id, (r) => parseValue(r, [...path, 'department_id'], ctx));
  const departmentName = opt(doc.department_name, (r) => parseText(r, [...path, 'department_name'], ctx));
  const startTime = parseValue(doc.start_time, [...path, 'start_time'], ctx);
  const endTime = opt(doc.end_time, (r) => parseValue(r, [...path, 'end_time'], ctx));
  const updateTime = parseValue(doc.update_time, [...path, 'update_time'], ctx);
  const form = (doc.form ?? []).map((f, i) => {
    const name = parseText(f.name, [...path, 'form', i, 'name'], ctx);
    const value = parseText(f.value, [...path, 'form', i, 'value'], ctx);
    return name && value ? { name, value } : undefined;
  });
  if (
    ctx.problems.length > before ||
    !baseParts ||
    !baseParts.links ||
    !id ||
    !approvalCode ||
    !status ||
    !startTime ||
    !updateTime
  )
    return undefined;
  return {
    ...baseParts,
    links: baseParts.links,
    id,
    onDelete: doc.on_delete ?? 'delete',
    approvalCode,
    status,
    ...(title && { title }),
    ...(userName && { userName }),
    ...(departmentId && { departmentId }),
    ...(departmentName && { departmentName }),
    startTime,
    ...(endTime && { endTime }),
    updateTime,
    form: form.filter((f) => f !== undefined),
  };
}

type CtxFor = (
  table: string,
  declared: readonly string[] | undefined,
  always: readonly string[],
) => ParseContext;

function childBase(
  doc: TaskDoc | CcDoc,
  path: readonly PathKey[],
  instKey: readonly string[],
  collector: Collector,
  ctxFor: CtxFor,
  problems: PathProblem[],
) {
  const key = list(doc.key);
  const parent = list(doc.parent);
  collector.key(doc.table, key, [...path, 'key'], problems);
  if (parent.length !== instKey.length) {
    problems.push({
      path: [...path, 'parent'],
      found: describeFound(doc.parent),
      expected: `${instKey.length} column${instKey.length > 1 ? 's' : ''} holding the instance key (${instKey.join(', ')})`,
    });
  }
  for (const c of parent) collector.use(doc.table, c);
  const ctx = ctxFor(doc.table, doc.columns, [...key, ...parent]);
  const baseParts = compileSourceBase(doc, path, ctx, key);
  const id = compileId(doc.id, [...path, 'id'], ctx, key, false);
  const createTime = parseValue(doc.create_time, [...path, 'create_time'], ctx);
  return { ctx, parent, baseParts, id, createTime };
}

function compileTask(
  doc: TaskDoc,
  path: readonly PathKey[],
  instKey: readonly string[],
  collector: Collector,
  ctxFor: CtxFor,
  problems: PathProblem[],
): CompiledTask | undefined {
  const before = problems.length;
  const { ctx, parent, baseParts, id, createTime } = childBase(
    doc,
    path,
    instKey,
    collector,
    ctxFor,
    problems,
  );
  const status = parseValue(doc.status, [...path, 'status'], ctx, { values: TASK_STATUSES });
  const title = opt(doc.title, (r) => parseText(r, [...path, 'title'], ctx));
  const endTime = opt(doc.end_time, (r) => parseValue(r, [...path, 'end_time'], ctx));
  const updateTime = opt(doc.update_time, (r) => parseValue(r, [...path, 'update_time'], ctx));
  const nodeId = opt(doc.node_id, (r) => parseValue(r, [...path, 'node_id'], ctx));
  const nodeName = opt(doc.node_name, (r) => parseText(r, [...path, 'node_name'], ctx));
  if (problems.length > before || !baseParts || !id || !createTime || !status) return undefined;
  return {
    ...baseParts,
    id,
    parent,
    createTime,
    onDelete: doc.on_delete ?? 'drop',
    status,
    ...(title && { title }),
    ...(endTime && { endTime }),
    ...(updateTime && { updateTime }),
    ...(nodeId && { nodeId }),
    ...(nodeName && { nodeName }),
  };
}

function compileCc(
  doc: CcDoc,
  path: readonly PathKey[],
  instKey: readonly string[],
  collector: Collector,
  ctxFor: CtxFor,
  problems: PathProblem[],
): CompiledCc | undefined {
  const before = problems.length;
  const { ctx, parent, baseParts, id, createTime } = childBase(
    doc,
    path,
    instKey,
    collector,
    ctxFor,
    problems,
  );
  const readStatus = parseValue(doc.read_status, [...path, 'read_status'], ctx, { values: READ_STATUSES });
  const updateTime = parseValue(doc.update_time, [...path, 'update_time'], ctx);
  if (problems.length > before || !baseParts || !id || !createTime || !readStatus || !updateTime)
    return undefined;
  return { ...baseParts, id, parent, createTime, onDelete: doc.on_delete ?? 'drop', readStatus, updateTime };
}
