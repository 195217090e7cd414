// Owns the text format of COPY (one row per line, fields separated by tabs, \N for NULL, backslash
// escapes). Pure. Invariant: parseCopyFields(fields.map(copyField).join('\t')) gives back `fields`
// for any strings, and parses every line `COPY ... TO STDOUT` writes to the values Postgres printed.

/** The fields of one line (without its newline): each value as text, null for SQL NULL. */
export function parseCopyFields(line: string): (string | null)[] {
  const out: (string | null)[] = [];
  let start = 0;
  for (;;) {
    const tab = line.indexOf('\t', start);
    const raw = tab === -1 ? line.slice(start) : line.slice(start, tab);
    out.push(raw === '\\N' ? null : raw.includes('\\') ? unescapeField(raw) : raw);
    if (tab === -1) return out;
    start = tab + 1;
  }
}

const SIMPLE: Readonly<Record<string, string>> = {
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

function unescapeField(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c !== '\\' || i + 1 >= raw.length) {
      out += c;
      continue;
    }
    const next = raw[++i] as string;
    const simple = SIMPLE[next];
    if (simple !== undefined) {
      out += simple;
    } else if (next >= '0' && next <= '7') {
      // Up to three octal digits: a byte value (COPY TO never writes these; COPY FROM reads them).
      let digits = next;
      while (digits.length < 3 && i + 1 < raw.length && /[0-7]/.test(raw[i + 1] as string))
        digits += raw[++i] as string;
      out += String.fromCharCode(parseInt(digits, 8));
    } else if (next === 'x' && i + 1 < raw.length && /[0-9a-fA-F]/.test(raw[i + 1] as string)) {
      let digits = raw[++i] as string;
      if (i + 1 < raw.length && /[0-9a-fA-F]/.test(raw[i + 1] as string)) digits += raw[++i] as string;
      out += String.fromCharCode(parseInt(digits, 16));
    } else {
      // Any other escaped character stands for itself (\\ among them).
      out += next;
    }
  }
  return out;
}

/** One value as a COPY text field. */
export function copyField(value: string | null): string {
  if (value === null) return '\\N';
  return /[\\\t\n\r\b\f\v]/.test(value)
    ? value.replace(/[\\\t\n\r\b\f\v]/g, (c) => `\\${ESCAPE[c] ?? c}`)
    : value;
}

const ESCAPE: Readonly<Record<string, string>> = {
  '\\': '\\',
  '\t': 't',
  '\n': 'n',
  '\r': 'r',
  '\b': 'b',
  '\f': 'f',
  '\v': 'v',
};
