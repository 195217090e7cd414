// What the mapping compiler can tell about Feishu's field rules before any row exists: a constant
// that can never be sent (an empty approval_code or user_id, a link that is no http(s) URL, an id
// template whose own text holds whitespace or is already too long), and the percent-encoding of
// values substituted into link templates. The same limits are checked on every built payload by
// feishu/payload-schema.ts (FIELD_LIMITS), which parks what breaks them.
// Invariant: pure; a rule here never refuses a mapping that could produce a valid payload.
import { FIELD_LIMITS } from '../feishu/payload-schema.js';
import type { Expr } from './expression.js';
import type { PathKey, PathProblem } from './mapping-problem.js';

const URL_START = /^https?:\/\/[^\s/?#]+/i;

/** A link: a constant must be an absolute http(s) URL; a template's leading text must start one. */
export function checkLink(e: Expr, path: readonly PathKey[], problems: PathProblem[]): Expr {
  if (e.op === 'const' && e.value !== null && !URL_START.test(e.value)) {
    problems.push({ path, found: JSON.stringify(e.value), expected: 'an absolute http(s) URL' });
  }
  if (e.op !== 'template') return e;
  const [first] = e.parts;
  if (typeof first === 'string' && !URL_START.test(first) && !/^https?:\/\/$/i.test(first)) {
    problems.push({
      path,
      found: `${JSON.stringify(templateText(e))}, which does not start with http:// or https://`,
      expected: 'an absolute http(s) URL template such as https://oa.example.com/requests/{req_id}',
    });
  }
  // A value placed into a URL is percent-encoded (a title "a&b" or an id "12/3" cannot change the
  // URL's structure); a placeholder that starts the template is the URL's base and is kept as is.
  return { ...e, encode: typeof first === 'string' ? 'uri' : 'uri-after-first' };
}

/** A field Feishu requires non-empty (approval_code, user_id, open_id) cannot be an empty constant. */
export function checkNotEmpty(e: Expr, path: readonly PathKey[], problems: PathProblem[]): void {
  if (e.op === 'const' && e.value === '') {
    problems.push({ path, found: '""', expected: 'a non-empty value (omit the field instead)' });
  }
}

/** An id template's own text must not hold whitespace or control characters nor exceed the id length. */
export function checkIdText(template: string, path: readonly PathKey[], problems: PathProblem[]): void {
  const literal = template.replace(/\{[^{}]*\}/g, '');
  const bad = /[\s\p{Cc}]/u.exec(literal);
  if (bad) {
    problems.push({
      path,
      found: `${JSON.stringify(template)} containing ${JSON.stringify(bad[0])}`,
      expected: 'an id without whitespace or control characters',
    });
  } else if ([...literal].length > FIELD_LIMITS.maxIdChars) {
    problems.push({
      path,
      found: `${JSON.stringify(template)}, ${[...literal].length} characters before any value`,
      expected: `an id of at most ${FIELD_LIMITS.maxIdChars} characters`,
    });
  }
}

function templateText(e: Extract<Expr, { op: 'template' }>): string {
  return e.parts.map((p) => (typeof p === 'string' ? p : `{${p.column}}`)).join('');
}
