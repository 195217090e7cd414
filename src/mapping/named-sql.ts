// Named parameters in a write-back statement: `:name` becomes `$n`, bound, never spliced. Pure.
// Invariant: a statement's text never contains a value; `::type` casts and quoted text ('…', "…",
// $$…$$ is not supported) are left alone, so `:x` inside a literal stays literal.
export interface NamedSql {
  /** The statement with $1, $2, … in place of the names. */
  readonly text: string;
  /** The name bound to $1, $2, … in order (a name used twice is bound once). */
  readonly names: readonly string[];
}

export function compileNamedSql(statement: string): NamedSql {
  const names: string[] = [];
  let out = '';
  let i = 0;
  while (i < statement.length) {
    const c = statement[i] as string;
    if (c === "'" || c === '"') {
      const end = closingQuote(statement, i, c);
      out += statement.slice(i, end);
      i = end;
      continue;
    }
    if (c === '-' && statement[i + 1] === '-') {
      const end = statement.indexOf('\n', i);
      const stop = end === -1 ? statement.length : end;
      out += statement.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === ':' && statement[i + 1] === ':') {
      out += '::';
      i += 2;
      continue;
    }
    const m = c === ':' ? /^[A-Za-z_][A-Za-z0-9_]*/.exec(statement.slice(i + 1)) : null;
    if (m) {
      const name = m[0];
      let n = names.indexOf(name);
      if (n === -1) n = names.push(name) - 1;
      out += `$${n + 1}`;
      i += 1 + name.length;
      continue;
    }
    out += c;
    i++;
  }
  return { text: out, names };
}

/** Index just past the quote closing the one at `start` ('' and "" are escaped quotes). */
function closingQuote(s: string, start: number, q: string): number {
  let i = start + 1;
  while (i < s.length) {
    if (s[i] === q) {
      if (s[i + 1] === q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return s.length;
}

/** The values for a compiled statement, in $n order; a name missing from `params` binds NULL. */
export function bindNamed(sql: NamedSql, params: Readonly<Record<string, string | null>>): (string | null)[] {
  return sql.names.map((n) => params[n] ?? null);
}
