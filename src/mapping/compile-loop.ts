// Compiles a mapping's `notify` and `quick_approval` parts (loop-schema.ts) into the LoopConfig the
// notify and decisions stages read. Checks what zod cannot: that every named parameter of the
// write-back is one the applier binds, and the locales of card texts. Pure.
import { BOT_LOCALES } from '../feishu/bot-message-schema.js';
import type { CompiledTask } from './compiled-mapping.js';
import type { Expr } from './expression.js';
import type { NotifyDoc, QuickApprovalDoc } from './loop-schema.js';
import { describeFound, type PathKey, type PathProblem } from './mapping-problem.js';
import { compileNamedSql } from './named-sql.js';
import {
  DECISION_PARAMETERS,
  type LoopConfig,
  type QuickApprovalConfig,
  type WriteBack,
} from './loop-config.js';

export function compileLoop(
  m: { notify?: NotifyDoc | undefined; quick_approval?: QuickApprovalDoc | undefined },
  path: readonly PathKey[],
  defaultLocale: string,
  tasks: readonly CompiledTask[],
  problems: PathProblem[],
): LoopConfig | undefined {
  if (m.notify === undefined && m.quick_approval === undefined) return undefined;
  let notify: LoopConfig['notify'] = null;
  if (m.notify !== undefined) {
    const note = m.notify === true ? undefined : m.notify.note;
    if (note === undefined) notify = {};
    else {
      const texts = typeof note === 'string' ? { [defaultLocale]: note } : note;
      for (const locale of Object.keys(texts))
        if (!(BOT_LOCALES as readonly string[]).includes(locale))
          problems.push({
            path: [...path, 'notify', 'note', locale],
            at: 'key',
            found: describeFound(locale),
            expected: `a locale the bot API takes: ${BOT_LOCALES.join(', ')}`,
          });
      notify = { note: texts };
    }
  }
  let quickApproval: QuickApprovalConfig | null = null;
  const q = m.quick_approval;
  if (q !== undefined) {
    const allowed = new Set<string>([...DECISION_PARAMETERS, ...tasks.flatMap((t) => placeholders(t.id))]);
    const expected = `one of the parameters ${[...allowed].map((n) => `:${n}`).join(', ')}`;
    let writeBack: WriteBack;
    if ('sql' in q.write_back) {
      const sql = compileNamedSql(q.write_back.sql);
      for (const name of sql.names)
        if (!allowed.has(name))
          problems.push({
            path: [...path, 'quick_approval', 'write_back', 'sql'],
            found: `:${name}`,
            expected,
          });
      writeBack = { kind: 'sql', sql, statement: q.write_back.sql };
    } else {
      const { url, headers } = q.write_back.http;
      for (const [, name] of url.matchAll(/\{([^}]*)\}/g))
        if (name === undefined || !allowed.has(name))
          problems.push({
            path: [...path, 'quick_approval', 'write_back', 'http', 'url'],
            found: `{${name ?? ''}}`,
            expected,
          });
      writeBack = { kind: 'http', url, headers: headers ?? {} };
    }
    if (tasks.length === 0)
      problems.push({
        path: [...path, 'quick_approval'],
        found: 'a mapping without tasks',
        expected: 'tasks to carry the buttons',
      });
    quickApproval = {
      actions: q.actions.map((a) => ({ type: a.type, reason: a.reason ?? 'optional' })),
      ...(q.operator === undefined ? {} : { operator: q.operator }),
      writeBack,
    };
  }
  return { notify, quickApproval };
}

/** The columns an id template reads, in order of first use. */
export function placeholders(e: Expr): string[] {
  if (e.op !== 'template') return [];
  const out: string[] = [];
  for (const p of e.parts) if (typeof p !== 'string' && !out.includes(p.column)) out.push(p.column);
  return out;
}
