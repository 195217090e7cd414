// One problem found in a mapping file, and how it is printed. Every loader error goes through here so
// that `mappings check` and the thrown MAPPING_INVALID message agree, byte for byte, on the format
// `<file>:<line>:<col> <field.path>: <found>; expected <expected>`.

/** A key of a path into a mapping file: an object key or a list index. */
export type PathKey = string | number;

/** A problem before it has a position: the compiler knows paths, the loader knows lines. */
export interface PathProblem {
  readonly path: readonly PathKey[];
  /** Point at the key of the last path element (unknown keys) instead of its value. */
  readonly at?: 'key' | 'value';
  readonly found: string;
  readonly expected: string;
}

export interface MappingProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted path with list indexes in brackets, e.g. `mappings[0].instance.status`; `(root)` for the file. */
  readonly path: string;
  readonly found: string;
  readonly expected: string;
  /** The formatted line, exactly as in the thrown error. */
  readonly message: string;
}

export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out === '' ? '(root)' : out;
}

export function makeProblem(file: string, line: number, col: number, p: PathProblem): MappingProblem {
  const path = formatPath(p.path);
  return {
    file,
    line,
    col,
    path,
    found: p.found,
    expected: p.expected,
    message: `${file}:${line}:${col} ${path}: ${p.found}; expected ${p.expected}`,
  };
}

/** How a value found in a file is shown in a message: short, unambiguous, one line. */
export function describeFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.join(', ')}`;
  }
  return JSON.stringify(value) ?? String(value);
}

export function sortProblems(problems: MappingProblem[]): MappingProblem[] {
  return problems.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.col - b.col ||
      (a.message < b.message ? -1 : a.message > b.message ? 1 : 0),
  );
}
