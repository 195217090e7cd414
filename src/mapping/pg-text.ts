// Reading Postgres text output that is more than a scalar: json/jsonb documents (numbers keep their
// exact digits, "12.50" never becomes 12.5), array literals (`{a,"b c",NULL}`), and numeric text
// formatted for display. Invariant: decimal arithmetic is done on digit strings, never on floats.
import { CdcError } from '../errors.js';

type Json =
  | null
  | boolean
  | string
  | { readonly num: string }
  | readonly Json[]
  | { readonly obj: ReadonlyMap<string, Json> };

/** Parses JSON text keeping number literals as text. Throws SyntaxError on invalid JSON. */
export function parseJsonText(text: string): Json {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] ?? '')) i++;
  };
  const fail = (): never => {
    throw new SyntaxError(`invalid JSON at offset ${i}`);
  };
  const value = (): Json => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = new Map<string, Json>();
      ws();
      if (text[i] === '}') {
        i++;
        return { obj };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = str();
        ws();
        if (text[i++] !== ':') fail();
        obj.set(k, value());
        ws();
        const d = text[i++];
        if (d === '}') return { obj };
        if (d !== ',') fail();
      }
    }
    if (c === '[') {
      i++;
      const arr: Json[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        const d = text[i++];
        if (d === ']') return arr;
        if (d !== ',') fail();
      }
    }
    if (c === '"') return str();
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!m) return fail();
    i += m[0].length;
    return m[0] === 'true' ? true : m[0] === 'false' ? false : m[0] === 'null' ? null : { num: m[0] };
  };
  const str = (): string => {
    // eslint-disable-next-line no-control-regex -- JSON forbids raw control characters in strings
    const m = /^"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/.exec(text.slice(i));
    if (!m) return fail();
    i += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  const out = value();
  ws();
  if (i !== text.length) fail();
  return out;
}

function isObj(j: Json): j is { readonly obj: ReadonlyMap<string, Json> } {
  return j !== null && typeof j === 'object' && 'obj' in j;
}

function serialize(j: Json): string {
  if (j === null || typeof j === 'boolean') return String(j);
  if (typeof j === 'string') return JSON.stringify(j);
  if (Array.isArray(j)) return `[${j.map(serialize).join(',')}]`;
  if (isObj(j)) return `{${[...j.obj].map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`).join(',')}}`;
  return (j as { num: string }).num;
}

/** A JSON path such as `$.a.b[0]` or `$["a b"].c`, compiled to keys; an error text if invalid. */
export function compileJsonPath(path: string): (string | number)[] | string {
  const keys: (string | number)[] = [];
  let rest = path.startsWith('$') ? path.slice(1) : `.${path}`;
  while (rest.length > 0) {
    const m = /^(?:\.([A-Za-z_\u0080-\uffff][\w\u0080-\uffff-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\])/.exec(
      rest,
    );
    if (!m) return `cannot read "${rest}"`;
    keys.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(`"${m[3] ?? ''}"`) as string)));
    rest = rest.slice(m[0].length);
  }
  return keys;
}

/** The value at `keys` in JSON text: text for scalars, compact JSON for objects/arrays, null if absent. */
export function jsonPathValue(text: string, keys: readonly (string | number)[]): string | null {
  let cur: Json | undefined = parseJsonText(text);
  for (const key of keys) {
    if (cur === undefined || cur === null) return null;
    if (typeof key === 'number') cur = Array.isArray(cur) ? (cur as readonly Json[])[key] : undefined;
    else cur = isObj(cur) ? cur.obj.get(key) : undefined;
  }
  if (cur === undefined || cur === null) return null;
  if (typeof cur === 'string') return cur;
  return serialize(cur);
}

/** Elements of a Postgres array literal (one dimension; nested arrays come back as their literal). */
export function parsePgArray(text: string): (string | null)[] {
  const body = text.replace(/^\[[^\]]*\]=/, '');
  if (!body.startsWith('{') || !body.endsWith('}'))
    throw new CdcError('MAPPING_UNMAPPABLE', `"${text}" is not a Postgres array`);
  const inner = body.slice(1, -1);
  const out: (string | null)[] = [];
  if (inner === '') return out;
  let i = 0;
  while (i <= inner.length) {
    if (inner[i] === '"') {
      let s = '';
      i++;
      while (i < inner.length && inner[i] !== '"') {
        if (inner[i] === '\\') i++;
        s += inner[i] ?? '';
        i++;
      }
      out.push(s);
      i += 2; // closing quote and the comma
    } else {
      let depth = 0;
      let j = i;
      while (j < inner.length && (depth > 0 || inner[j] !== ',')) {
        if (inner[j] === '{') depth++;
        if (inner[j] === '}') depth--;
        j++;
      }
      const raw = inner.slice(i, j).trim();
      out.push(raw.toUpperCase() === 'NULL' ? null : raw);
      i = j + 1;
    }
  }
  return out;
}

/** Formats numeric text: rounds half away from zero to `decimals`, optionally with "," thousands. */
export function formatNumberText(text: string, decimals: number | undefined, thousands: boolean): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === ''))
    throw new CdcError('MAPPING_UNMAPPABLE', `"${text}" is not a number`);
  const sign = m[1] === '-' ? '-' : '';
  let int = m[2] === '' ? '0' : (m[2] ?? '0');
  let frac = m[3] ?? '';
  if (decimals !== undefined) {
    if (frac.length > decimals) {
      const roundUp = (frac[decimals] ?? '0') >= '5';
      frac = frac.slice(0, decimals);
      if (roundUp) {
        const digits = (int + frac).split('').map(Number);
        let k = digits.length - 1;
        for (; k >= 0; k--) {
          if (digits[k] === 9) digits[k] = 0;
          else {
            digits[k] = (digits[k] ?? 0) + 1;
            break;
          }
        }
        const all = (k < 0 ? '1' : '') + digits.join('');
        int = all.slice(0, all.length - decimals) || '0';
        frac = all.slice(all.length - decimals);
      }
    } else frac = frac.padEnd(decimals, '0');
  }
  int = int.replace(/^0+(?=\d)/, '');
  if (thousands) int = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const zero = /^[0,]*$/.test(int) && /^0*$/.test(frac);
  return `${zero ? '' : sign}${int}${frac === '' ? '' : `.${frac}`}`;
}
