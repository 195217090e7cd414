// Loads mapping files (YAML) into a MappingSet, synchronously: a file, a directory of *.yaml / *.yml
// files (not recursive, in name order), or a list of either. Reading files is its only I/O.
// Invariant: all or nothing. Any problem in any file (YAML syntax, schema, expressions, lookups, time
// zones, formats, colliding ids, duplicate names) makes loadMappings throw one
// CdcError('MAPPING_INVALID') listing every problem as `<file>:<line>:<col> <path>: <found>; expected
// <what>`; a half-loaded set is never returned.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CdcError } from '../errors.js';
import { compileMappingFile } from './compile-mapping.js';
import { decodeMappingBytes } from './mapping-bytes.js';
import { crossMappingIdProblems, type MappingIds } from './id-collisions.js';
import type { CompiledMapping } from './compiled-mapping.js';
import {
  describeFound,
  formatPath,
  makeProblem,
  sortProblems,
  type MappingProblem,
  type PathKey,
  type PathProblem,
} from './mapping-problem.js';
import { MappingFileSchema, type MappingFile } from './mapping-schema.js';
import { CompiledMappingSet } from './mapping-set.js';
import { readYaml, type YamlSource } from './yaml-source.js';

export interface MappingSourceText {
  /** The name shown in messages (a path, usually). */
  readonly file: string;
  readonly text: string;
}

export interface LoadOptions {
  /** Show file names relative to this directory (default: as given). */
  readonly relativeTo?: string;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly errors: MappingProblem[];
}

/** A check that also hands over what it loaded, when there was no problem. */
export interface CheckedSet extends CheckResult {
  readonly set?: CompiledMappingSet;
}

/** Loads and compiles mapping files; throws CdcError('MAPPING_INVALID') listing every problem. */
export function loadMappings(
  source: string | readonly string[],
  options: LoadOptions = {},
): CompiledMappingSet {
  const { texts, problems } = readSources(source, options);
  return setOrThrow(compileSources(texts), problems);
}

/** Validates mapping files offline (the `mappings check` command); never throws for bad files. */
export function checkMappingFiles(
  source: string | readonly string[],
  options: LoadOptions = {},
): CheckResult {
  const { ok, errors } = checkAndLoadMappingFiles(source, options);
  return { ok, errors };
}

/** checkMappingFiles, plus the set when it loads (`mappings check` summarises what it read). */
export function checkAndLoadMappingFiles(
  source: string | readonly string[],
  options: LoadOptions = {},
): CheckedSet {
  const { texts, problems } = readSources(source, options);
  const compiled = compileSources(texts);
  const errors = sortProblems([...problems, ...compiled.problems]);
  return errors.length === 0 && compiled.set
    ? { ok: true, errors, set: compiled.set }
    : { ok: false, errors };
}

/** Compiles mapping texts already in memory (tests, previews); same all-or-nothing rule. */
export function loadMappingTexts(sources: readonly MappingSourceText[]): CompiledMappingSet {
  return setOrThrow(compileSources(sources), []);
}

/** Compiles mapping texts and returns the problems instead of throwing. */
export function checkMappingTexts(sources: readonly MappingSourceText[]): CheckResult {
  const errors = sortProblems([...compileSources(sources).problems]);
  return { ok: errors.length === 0, errors };
}

/** The message of the MAPPING_INVALID error for these problems. */
export function formatProblems(problems: readonly MappingProblem[]): string {
  const n = problems.length;
  return `${n} problem${n === 1 ? '' : 's'} in the mapping files:\n${problems.map((p) => p.message).join('\n')}`;
}

function setOrThrow(
  result: { set?: CompiledMappingSet; problems: MappingProblem[] },
  extra: MappingProblem[],
): CompiledMappingSet {
  const problems = sortProblems([...extra, ...result.problems]);
  if (problems.length > 0 || !result.set) {
    throw new CdcError('MAPPING_INVALID', formatProblems(problems), { details: { problems } });
  }
  return result.set;
}

function readSources(
  source: string | readonly string[],
  options: LoadOptions,
): { texts: MappingSourceText[]; problems: MappingProblem[] } {
  const shown = (p: string): string =>
    options.relativeTo === undefined ? p : relative(options.relativeTo, p);
  const texts: MappingSourceText[] = [];
  const problems: MappingProblem[] = [];
  const missing = (p: string, found: string, expected: string): void => {
    problems.push(makeProblem(shown(p), 1, 1, { path: [], found, expected }));
  };
  for (const path of typeof source === 'string' ? [source] : source) {
    let files: string[];
    try {
      if (statSync(path).isDirectory()) {
        files = readdirSync(path)
          // definitions.yaml beside the mappings declares approval definitions, not mappings.
          .filter((f) => /\.ya?ml$/.test(f) && !/^definitions\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(path, f));
        if (files.length === 0) missing(path, 'a directory without .yaml files', 'at least one mapping file');
      } else files = [path];
    } catch {
      missing(path, 'no such file or directory', 'a mapping file or a directory of them');
      continue;
    }
    for (const file of files) {
      try {
        const decoded = decodeMappingBytes(readFileSync(file));
        if ('text' in decoded) texts.push({ file: shown(file), text: decoded.text });
        else
          problems.push(
            makeProblem(shown(file), decoded.position.line, decoded.position.col, decoded.problem),
          );
      } catch (err) {
        missing(file, `an unreadable file (${(err as Error).message})`, 'a readable mapping file');
      }
    }
  }
  return { texts, problems };
}

interface ParsedFile {
  readonly file: string;
  readonly yaml: YamlSource;
  readonly doc: MappingFile;
}

function compileSources(sources: readonly MappingSourceText[]): {
  set?: CompiledMappingSet;
  problems: MappingProblem[];
} {
  const problems: MappingProblem[] = [];
  const parsed: ParsedFile[] = [];
  const mappings: CompiledMapping[] = [];
  for (const { file, text } of sources) {
    const read = readYaml(text);
    for (const p of read.problems) problems.push(makeProblem(file, p.position.line, p.position.col, p));
    if (!read.source) continue;
    const yaml = read.source;
    const place = (p: PathProblem): MappingProblem => {
      const pos = yaml.positionOf(p.path, p.at);
      return makeProblem(file, pos.line, pos.col, p);
    };
    const { doc, issues } = parseReporting(yaml.value);
    for (const issue of issues) for (const p of zodProblems(issue, yaml.value)) problems.push(place(p));
    if (!doc) continue;
    const compiled = compileMappingFile(doc, file);
    problems.push(...compiled.problems.map(place));
    for (const m of compiled.mappings) {
      const placedRefs = (m.refs ?? []).map((r) => {
        const pos = yaml.positionOf(r.path);
        return {
          table: r.table,
          column: r.column,
          file,
          line: pos.line,
          col: pos.col,
          path: formatPath(r.path),
        };
      });
      mappings.push({ ...m, placedRefs });
    }
    parsed.push({ file, yaml, doc });
  }
  problems.push(...crossFileProblems(parsed));
  if (problems.length > 0) return { problems };
  return { set: new CompiledMappingSet(mappings), problems };
}

/**
 * Parses a mapping document; when the schema refuses it, drops every refused value (a bad
 * update_mode, an unknown key) and parses again, so the compiler still reports the file's other
 * problems in the same run. The repaired document is only ever used to find more problems: with
 * any schema issue the file is refused.
 */
function parseReporting(value: unknown): { doc?: MappingFile; issues: ZodIssueLike[] } {
  const first = MappingFileSchema.safeParse(value);
  if (first.success) return { doc: first.data, issues: [] };
  const issues = first.error.issues as ZodIssueLike[];
  const repaired: unknown = structuredClone(value);
  for (const issue of issues) {
    const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const parent = valueAt(repaired, path);
      for (const key of issue.keys ?? [])
        if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[key];
    } else if (path.length > 0) {
      const parent = valueAt(repaired, path.slice(0, -1));
      if (parent && typeof parent === 'object' && !Array.isArray(parent))
        delete (parent as Record<string | number, unknown>)[path[path.length - 1] as string | number];
    }
  }
  const second = MappingFileSchema.safeParse(repaired);
  return second.success ? { doc: second.data, issues } : { issues };
}

function valueAt(root: unknown, path: readonly PathKey[]): unknown {
  let cur = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

interface ZodIssueLike {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
}

function zodProblems(issue: ZodIssueLike, root: unknown): PathProblem[] {
  const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    return (issue.keys ?? []).map((k) => ({
      path: [...path, k],
      at: 'key' as const,
      found: `unknown key "${k}"`,
      expected: issue.message,
    }));
  }
  const value = valueAt(root, path);
  const found = path.length === 0 && value === null ? 'an empty document' : describeFound(value);
  return [{ path, found, expected: issue.message }];
}

/** Problems only visible across mappings: duplicate names, colliding ids, conflicting keys. */
function crossFileProblems(files: readonly ParsedFile[]): MappingProblem[] {
  const out: MappingProblem[] = [];
  const names = new Map<string, string>();
  const ids: MappingIds[] = [];
  const keys = new Map<string, { key: string; where: string }>();
  for (const { file, yaml, doc } of files) {
    const place = (p: PathProblem): MappingProblem => {
      const pos = yaml.positionOf(p.path, p.at);
      return makeProblem(file, pos.line, pos.col, p);
    };
    doc.mappings.forEach((m, i) => {
      const where = `${file} mappings[${i}]`;
      const seen = names.get(m.name);
      if (seen)
        out.push(
          place({
            path: ['mappings', i, 'name'],
            found: `"${m.name}", already the name of ${seen}`,
            expected: 'a mapping name used once',
          }),
        );
      else names.set(m.name, where);
      ids.push({
        file,
        index: i,
        instanceTable: m.instance.table,
        where: m.instance.where,
        ids: [
          { path: ['mappings', i, 'instance', 'id'], template: m.instance.id },
          ...(m.tasks ?? []).map((t, j) => ({ path: ['mappings', i, 'tasks', j, 'id'], template: t.id })),
          ...(m.ccs ?? []).map((c, j) => ({ path: ['mappings', i, 'ccs', j, 'id'], template: c.id })),
        ],
      });
      const sources = [m.instance, ...(m.tasks ?? []), ...(m.ccs ?? [])];
      const kinds = [
        'instance',
        ...(m.tasks ?? []).map((_, j) => `tasks[${j}]`),
        ...(m.ccs ?? []).map((_, j) => `ccs[${j}]`),
      ];
      sources.forEach((s, j) => {
        const key = (typeof s.key === 'string' ? [s.key] : s.key).join(', ');
        const known = keys.get(s.table);
        const sourcePath: PathKey[] =
          kinds[j] === 'instance'
            ? ['mappings', i, 'instance', 'key']
            : [
                'mappings',
                i,
                ...(kinds[j] ?? '')
                  .replace(/\[(\d+)\]/, '.$1')
                  .split('.')
                  .map((x) => (/^\d+$/.test(x) ? Number(x) : x)),
                'key',
              ];
        if (!known) keys.set(s.table, { key, where: `${where}.${kinds[j]}` });
        else if (known.key !== key && !known.where.startsWith(`${where}.`)) {
          out.push(
            place({
              path: sourcePath,
              found: `key ${key} for ${s.table}`,
              expected: `the key ${known.key} declared for it in ${known.where}`,
            }),
          );
        }
      });
    });
  }
  const yamlOf = new Map(files.map((f) => [f.file, f.yaml]));
  for (const p of crossMappingIdProblems(ids)) {
    const pos = yamlOf.get(p.file)?.positionOf(p.path) ?? { line: 1, col: 1 };
    out.push(makeProblem(p.file, pos.line, pos.col, p));
  }
  return out;
}
