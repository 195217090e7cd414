// Reads one YAML mapping file into plain values while remembering where every value and key stands,
// so that any later problem (zod, semantic) can be reported at its line and column.
// Invariant: scalars keep the text the author wrote: a plain `1.50` stays "1.50" and a key `01` stays
// "01" (they are compared with Postgres text output); booleans stay booleans, `null` stays null.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { PathKey, PathProblem } from './mapping-problem.js';

export interface Position {
  readonly line: number;
  readonly col: number;
}

export interface YamlSource {
  readonly value: unknown;
  /** Where the value (or the key) at `path` stands; the nearest existing ancestor when absent. */
  positionOf(path: readonly PathKey[], at?: 'key' | 'value'): Position;
}

export interface YamlReadResult {
  readonly source?: YamlSource;
  readonly problems: readonly (PathProblem & { readonly position: Position })[];
}

/** Values a file may expand to, aliases included (the largest example mapping has about 300). */
export const MAX_EXPANDED_VALUES = 100_000;

const pathId = (path: readonly PathKey[]): string => JSON.stringify(path);

export function readYaml(text: string): YamlReadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: (PathProblem & { position: Position })[] = [];
  for (const err of doc.errors) {
    const pos = lineCounter.linePos(err.pos[0]);
    const first = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    problems.push({ path: [], found: `invalid YAML (${first})`, expected: 'valid YAML', position: pos });
  }
  if (problems.length > 0) return { problems };

  const values = new Map<string, Position>();
  const keys = new Map<string, Position>();
  const posOf = (node: { range?: [number, number, number] | null } | null | undefined): Position =>
    lineCounter.linePos(node?.range?.[0] ?? 0);

  // Aliases are expanded here: a few hundred bytes of nested aliases ("billion laughs") would expand
  // to billions of values. A mapping file has a few thousand values at most.
  let budget = MAX_EXPANDED_VALUES;
  let exhausted = false;
  let outerAlias: { path: PathKey[]; position: Position } | null = null;
  const walk = (node: unknown, path: PathKey[], depth: number): unknown => {
    if (exhausted) return null;
    if (--budget < 0) {
      exhausted = true;
      problems.push({
        path: outerAlias?.path ?? path,
        found: `an alias expanding to more than ${MAX_EXPANDED_VALUES} values`,
        expected: 'a mapping file without alias bombs (fewer, flatter aliases)',
        position: outerAlias?.position ?? posOf(node as Node),
      });
      return null;
    }
    if (depth > 64) {
      problems.push({
        path,
        found: 'aliases nested too deep',
        expected: 'a finite document',
        position: posOf(node as Node),
      });
      return null;
    }
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const outer = outerAlias === null;
      if (outer) outerAlias = { path, position: posOf(node) };
      const value = walk(node.resolve(doc), path, depth + 1);
      if (outer) outerAlias = null;
      return value;
    }
    if (isScalar(node)) return scalarValue(node.value, node.source);
    if (isSeq(node)) {
      return node.items.map((item, i) => {
        const p = [...path, i];
        values.set(pathId(p), posOf(item as Node));
        return walk(item, p, depth + 1);
      });
    }
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as Node | null;
        if (!isScalar(keyNode)) {
          problems.push({ path, found: 'a complex key', expected: 'plain keys', position: posOf(keyNode) });
          continue;
        }
        const key = keyText(keyNode.value, keyNode.source);
        const p = [...path, key];
        keys.set(pathId(p), posOf(keyNode));
        values.set(pathId(p), pair.value === null ? posOf(keyNode) : posOf(pair.value));
        Object.defineProperty(out, key, {
          value: walk(pair.value, p, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    return null;
  };

  const root = doc.contents;
  values.set(pathId([]), posOf(root));
  const value = walk(root, [], 0);
  if (problems.length > 0) return { problems };

  return {
    problems,
    source: {
      value,
      positionOf(path, at = 'value') {
        if (at === 'key') {
          const k = keys.get(pathId(path));
          if (k) return k;
        }
        for (let n = path.length; n >= 0; n--) {
          const found = values.get(pathId(path.slice(0, n)));
          if (found) return found;
        }
        return { line: 1, col: 1 };
      },
    },
  };
}

function scalarValue(value: unknown, source: string | undefined): unknown {
  if (typeof value === 'number' || typeof value === 'bigint') return source ?? String(value);
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value;
  return source ?? String(value);
}

// Keys are text: `1:` in a value map matches the Postgres text "1", `true:` matches a bool column's "t".
function keyText(value: unknown, source: string | undefined): string {
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'string') return value;
  return source ?? String(value);
}
