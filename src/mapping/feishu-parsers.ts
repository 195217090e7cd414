// Parsers of the two operators that read Feishu-side data through virtual tables (virtual-tables.ts):
//   definition: <value>           the platform code of the definition with this key (definitions.yaml)
//   feishu_user: [{ email: <input> }, { mobile: <input> }]   as: user_id | open_id | union_id
//     otherwise: park | drop | <a Feishu id>                  what an unresolved person does
// Invariant: as for every parser, each problem is reported with its path and a failed part makes the
// operator undefined, never a partial Expr.
import type { Expr } from './expression.js';
import { describeFound, type PathKey } from './mapping-problem.js';
import type { Recurse } from './operator-parsers.js';
import { problem, type ParseContext } from './parse-context.js';
import {
  ID_TYPES,
  IDENTITY_KINDS,
  type IdentityKind,
  type IdentityOtherwise,
  type IdType,
} from './virtual-tables.js';

export function parseDefinition(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
  r: Recurse,
): Expr | undefined {
  const key = r.value(raw.definition, [...path, 'definition'], ctx);
  return key && { op: 'definition', key };
}

export function parseFeishuUser(
  raw: Record<string, unknown>,
  path: readonly PathKey[],
  ctx: ParseContext,
  r: Recurse,
): Expr | undefined {
  const p = [...path, 'feishu_user'];
  const list: unknown[] = Array.isArray(raw.feishu_user) ? (raw.feishu_user as unknown[]) : [raw.feishu_user];
  const attempts: { kind: IdentityKind; input: Expr }[] = [];
  let ok = list.length > 0;
  list.forEach((item, i) => {
    const ip = Array.isArray(raw.feishu_user) ? [...p, i] : p;
    const keys = item !== null && typeof item === 'object' && !Array.isArray(item) ? Object.keys(item) : [];
    const kind = keys[0] as IdentityKind | undefined;
    if (keys.length !== 1 || kind === undefined || !IDENTITY_KINDS.includes(kind)) {
      problem(
        ctx,
        ip,
        describeFound(item),
        `{ email: <column or operator> } or { mobile: <column or operator> }`,
      );
      ok = false;
      return;
    }
    const input = r.input((item as Record<string, unknown>)[kind], [...ip, kind], ctx);
    if (input) attempts.push({ kind, input });
    else ok = false;
  });
  const as = raw.as ?? 'user_id';
  if (typeof as !== 'string' || !ID_TYPES.includes(as as IdType)) {
    problem(ctx, [...path, 'as'], describeFound(as), `one of ${ID_TYPES.join(', ')}`);
    ok = false;
  }
  const o = raw.otherwise ?? 'park';
  let otherwise: IdentityOtherwise | undefined;
  if (o === 'park' || o === 'drop') otherwise = o;
  else if (o !== null && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).join() === 'user') {
    const user = (o as { user: unknown }).user;
    if (typeof user === 'string' && user !== '') otherwise = { user };
  }
  if (!otherwise) {
    problem(
      ctx,
      [...path, 'otherwise'],
      describeFound(o),
      'park, drop or { user: <a Feishu id to use instead> }',
    );
    ok = false;
  }
  if (!ok || !otherwise) return undefined;
  return { op: 'feishu_user', attempts, as: as as IdType, otherwise };
}
