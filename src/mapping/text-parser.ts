// i18n texts in the mapping language: a value (the default locale's text) or an object of locale ->
// value. Invariant: a parsed text always has the default locale's value; locales are Feishu's.
import type { Expr } from './expression.js';
import { parseValue } from './expression-parser.js';
import { FEISHU_LOCALES } from './i18n-collector.js';
import type { PathKey } from './mapping-problem.js';
import { LOCALE_RE, problem, type ParseContext } from './parse-context.js';

/** An i18n text: a value (for the default locale) or an object of locale -> value. */
export type TextExpr = ReadonlyMap<string, Expr>;

export function parseText(raw: unknown, path: readonly PathKey[], ctx: ParseContext): TextExpr | undefined {
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const keys = Object.keys(raw);
    if (keys.length > 0 && keys.every((k) => LOCALE_RE.test(k))) {
      const out = new Map<string, Expr>();
      let ok = true;
      for (const k of keys) {
        if (!FEISHU_LOCALES.includes(k)) {
          problem(ctx, [...path, k], `unknown locale "${k}"`, `one of ${FEISHU_LOCALES.join(', ')}`, 'key');
          ok = false;
          continue;
        }
        const e = parseValue((raw as Record<string, unknown>)[k], [...path, k], ctx);
        if (e) out.set(k, e);
        else ok = false;
      }
      if (ok && !out.has(ctx.defaultLocale)) {
        problem(
          ctx,
          path,
          `texts for ${keys.join(', ')} only`,
          `a text for the default locale ${ctx.defaultLocale}`,
        );
        return undefined;
      }
      return ok ? out : undefined;
    }
  }
  const e = parseValue(raw, path, ctx);
  return e && new Map([[ctx.defaultLocale, e]]);
}
