// Compiles one validated mapping file into CompiledMappings, checking what zod cannot: expressions,
// filters, lookups, time zones, locales, ids. Problems carry paths; the loader adds lines. The
// sources of a mapping are compiled in compile-sources.ts, the tables it reads collected in
// table-collector.ts.
// Invariants checked here: the id templates of one mapping never overlap (id-templates.ts); lookups
// of a mapping do not redeclare the file's; a mapping with any problem is not produced at all.
import { compileLoop } from './compile-loop.js';
import { compileCc, compileInstance, compileTask, list } from './compile-sources.js';
import type { CompiledCc, CompiledMapping, CompiledTask } from './compiled-mapping.js';
import type { LookupDef } from './expression.js';
import { FEISHU_LOCALES } from './i18n-collector.js';
import { idOverlap, type IdTemplate } from './id-templates.js';
import { describeFound, type PathKey, type PathProblem } from './mapping-problem.js';
import type { LookupDoc, MappingDoc, MappingFile } from './mapping-schema.js';
import type { LookupEntry, LookupUsage, ParseContext, Scope } from './parse-context.js';
import { Collector } from './table-collector.js';
import { isValidTimeZone } from './time-conversion.js';

export const DEFAULT_LOCALE = 'zh-CN';

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
    useColumn: (t: string, c: string, p?: readonly PathKey[]) => collector.use(t, c, p),
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

  const loop = compileLoop(m, path, defaultLocale, tasks, problems);
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
    refs: collector.refs,
    lookups: lookupDefs,
    ...(loop === undefined ? {} : { loop }),
  };
}
