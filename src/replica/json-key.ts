// Owns the text of row and instance identities: JSON arrays of strings, as JSON.stringify writes
// them. Invariant: jsonKey(parts) === JSON.stringify(parts) for every input; ids stored in the state
// database depend on it. Made once or twice per streamed change, where JSON.stringify of a fresh
// array cost 2.5 times more than concatenating the usual plain values (a one-off micro-benchmark,
// not kept in bench/: 300,000 one-value keys with Map.set, 50 ms against 20 ms).

/** True when JSON.stringify writes `v` as "v" (printable ASCII without quote or backslash). */
function plain(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return false;
  }
  return true;
}

/** JSON.stringify(parts), faster for one or two plain strings. */
export function jsonKey(parts: readonly (string | null)[]): string {
  if (parts.length === 1) {
    const a = parts[0];
    if (typeof a === 'string' && plain(a)) return '["' + a + '"]';
  } else if (parts.length === 2) {
    const a = parts[0];
    const b = parts[1];
    if (typeof a === 'string' && typeof b === 'string' && plain(a) && plain(b))
      return '["' + a + '","' + b + '"]';
  }
  return JSON.stringify(parts);
}
