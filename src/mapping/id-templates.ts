// Id templates: instance_id, task_id and cc_id. Feishu requires the three kinds of ids to be
// distinct within an instance (reference/feishu-api.md §1.1 "ID uniqueness"), and instance ids to be
// unique in the tenant. Invariant: templates whose constant prefixes overlap are refused at load, so
// ids from different templates can never collide; a template must read its source's whole key, so
// ids from one template differ from row to row.
import type { Expr } from './expression.js';
import { parseTemplate } from './expression-parser.js';
import type { ParseContext } from './parse-context.js';
import type { PathKey, PathProblem } from './mapping-problem.js';

/** An id template and where it was written, for the collision check. */
export interface IdTemplate {
  readonly path: readonly PathKey[];
  readonly template: string;
  readonly table: string;
}

/** The constant text an id template starts with (up to its first placeholder). */
export function constantPrefix(template: string): string {
  const i = template.replace(/\{\{|\}\}/g, '__').indexOf('{');
  return (i < 0 ? template : template.slice(0, i)).replace(/\{\{/g, '{').replace(/\}\}/g, '}');
}

/** A problem if `b` can produce an id `a` can produce too, judged by their constant prefixes. */
export function idOverlap(a: IdTemplate, b: IdTemplate, what: string): PathProblem | undefined {
  const pa = constantPrefix(a.template);
  const pb = constantPrefix(b.template);
  if (!(pa.startsWith(pb) || pb.startsWith(pa))) return undefined;
  const why =
    a.template === b.template
      ? 'the same template as'
      : `a constant prefix ${JSON.stringify(pb)} that overlaps ${JSON.stringify(pa)} of`;
  return {
    path: b.path,
    found: `${JSON.stringify(b.template)}, ${why} ${formatRef(a.path)}`,
    expected: `${what} whose constant prefix is not a prefix of another's (e.g. "task-{id}" and "cc-{id}")`,
  };
}

export function formatRef(path: readonly PathKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** Parses an id template (nulls make the id null) and checks which key columns it reads. */
export function compileId(
  template: string,
  path: readonly PathKey[],
  ctx: ParseContext,
  key: readonly string[],
  exact: boolean,
): Expr | undefined {
  const e = parseTemplate(template, path, ctx, 'null');
  if (!e) return undefined;
  const used = new Set(
    e.op === 'template' ? e.parts.flatMap((p) => (typeof p === 'string' ? [] : [p.column])) : [],
  );
  const missing = key.filter((k) => !used.has(k));
  const extra = [...used].filter((c) => !key.includes(c));
  if (missing.length > 0 || (exact && extra.length > 0)) {
    const found =
      extra.length > 0 && exact
        ? `${JSON.stringify(template)} reading ${extra.join(', ')}`
        : `${JSON.stringify(template)} without ${missing.join(', ')}`;
    ctx.problems.push({
      path,
      found,
      expected: exact
        ? `a template reading exactly the key columns ${key.join(', ')}`
        : `a template reading every key column (${key.join(', ')})`,
    });
    return undefined;
  }
  return e;
}

/**
 * The column values under which the id template `e` renders exactly `id`: every way of cutting `id`
 * into the template's literals and placeholders (a column placed twice must get one value). At most
 * `limit` results, so a caller can tell "one" from "ambiguous" without enumerating every split.
 */
export function invertIdTemplate(e: Expr, id: string, limit = 2): Record<string, string>[] {
  if (e.op === 'const') return e.value === id ? [{}] : [];
  if (e.op !== 'template') return [];
  const parts = e.parts;
  const out: Record<string, string>[] = [];
  const walk = (i: number, at: number, values: Readonly<Record<string, string>>): void => {
    if (out.length >= limit) return;
    const part = parts[i];
    if (part === undefined) {
      if (at === id.length) out.push({ ...values });
      return;
    }
    if (typeof part === 'string') {
      if (id.startsWith(part, at)) walk(i + 1, at + part.length, values);
      return;
    }
    const known = values[part.column];
    if (known !== undefined) {
      if (id.startsWith(known, at)) walk(i + 1, at + known.length, values);
      return;
    }
    // A placeholder ends where the next literal starts (or at the end); try every such place.
    const next = parts[i + 1];
    for (let end = at; end <= id.length; end++) {
      if (typeof next === 'string' && !id.startsWith(next, end)) continue;
      if (next === undefined && end !== id.length) continue;
      walk(i + 1, end, { ...values, [part.column]: id.slice(at, end) });
      if (out.length >= limit) return;
    }
  };
  walk(0, 0, {});
  return out;
}
