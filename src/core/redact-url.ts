// Hides the password of every postgres URL in a text (a setting, an error message, a log line).
// Invariant: whatever characters the password holds (a raw '@', ':', '/' or '#' included), nothing
// of it survives: the user info runs from '://' to the LAST '@' of the URL token (as URL parsers
// read it), not to the first one, which a regex over [^@]* would pick.

const SCHEME = /postgres(?:ql)?:\/\//gi;
// A URL token ends at whitespace or a quote (URLs in messages are quoted or space-separated).
const TOKEN_END = /[\s"'`<>]/;

export function redactPostgresUrls(text: string): string {
  let out = '';
  let from = 0;
  for (const m of text.matchAll(SCHEME)) {
    const start = (m.index ?? 0) + m[0].length;
    if (start < from) continue;
    let end = start;
    while (end < text.length && !TOKEN_END.test(text[end] as string)) end++;
    const token = text.slice(start, end);
    const at = token.lastIndexOf('@');
    const colon = at < 0 ? -1 : token.indexOf(':');
    out += text.slice(from, start);
    out += colon >= 0 && colon < at ? `${token.slice(0, colon)}:***${token.slice(at)}` : token;
    from = end;
  }
  return out + text.slice(from);
}
