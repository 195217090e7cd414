// Compiles the sources of one mapping (the instance, its task and CC sources) into their compiled
// form: filters, fields, links, extra, ids. Problems carry paths; the loader adds lines.
// Invariants: an instance id template reads exactly the instance key columns (so externalId needs
// the key only), a task or CC id reads its source's whole key; a source with any problem compiles to
// undefined, never to a partial source.
import { checkIdText, checkLink, checkNotEmpty } from './feishu-field-rules.js';
import type { Expr } from './expression.js';
import { parseValue } from './expression-parser.js';
import { parseFilter, type Filter } from './filter.js';
import { compileId } from './id-templates.js';
import { describeFound, type PathKey, type PathProblem } from './mapping-problem.js';
import type { CcDoc, InstanceDoc, LinksDoc, TaskDoc } from './mapping-schema.js';
import type { Allowed, ParseContext } from './parse-context.js';
import type { Collector } from './table-collector.js';
import { parseText } from './text-parser.js';
import {
  DISPLAY_METHODS,
  INSTANCE_STATUSES,
  READ_STATUSES,
  TASK_STATUSES,
  type CompiledCc,
  type CompiledInstance,
  type CompiledLinks,
  type CompiledSource,
  type CompiledTask,
} from './compiled-mapping.js';

export const list = (v: string | readonly string[]): readonly string[] => (typeof v === 'string' ? [v] : v);

const STATUS: Allowed = { values: INSTANCE_STATUSES };
const DISPLAY: Allowed = { values: DISPLAY_METHODS };

function opt<T>(raw: unknown, parse: (raw: unknown) => T | undefined): T | undefined | null {
  if (raw === undefined) return undefined;
  return parse(raw) ?? null; // null marks a failed parse (a problem is recorded)
}

function compileLinks(
  raw: LinksDoc | undefined,
  path: readonly PathKey[],
  ctx: ParseContext,
): CompiledLinks | undefined | null {
  if (!raw) return undefined;
  const link = (r: unknown, p: readonly PathKey[]) => {
    const e = parseValue(r, p, ctx);
    return e && checkLink(e, p, ctx.problems);
  };
  const pcLink = link(raw.pc_link, [...path, 'pc_link']);
  const mobileLink = opt(raw.mobile_link, (r) => link(r, [...path, 'mobile_link']));
  if (!pcLink || mobileLink === null) return null;
  return mobileLink ? { pcLink, mobileLink } : { pcLink };
}

function compileExtra(
  raw: Readonly<Record<string, unknown>> | undefined,
  path: readonly PathKey[],
  ctx: ParseContext,
): [string, Expr][] | null {
  const out: [string, Expr][] = [];
  for (const [k, v] of Object.entries(raw ?? {})) {
    const e = parseValue(v, [...path, k], ctx);
    if (!e) return null;
    out.push([k, e]);
  }
  return out;
}

/** The parts shared by instance, task and CC sources; null when a problem was recorded. */
function compileSourceBase(
  doc: InstanceDoc | TaskDoc | CcDoc,
  path: readonly PathKey[],
  ctx: ParseContext,
  key: readonly string[],
): Omit<CompiledSource, 'id'> | null {
  const before = ctx.problems.length;
  const where: Filter | undefined =
    doc.where === undefined
      ? undefined
      : parseFilter(doc.where, [...path, 'where'], {
          problems: ctx.problems,
          useColumn: (c, p) => {
            if (!ctx.scope.declared || ctx.scope.declared.has(c) || ctx.scope.always?.has(c))
              ctx.useColumn(ctx.scope.table, c, p);
            else
              ctx.problems.push({
                path: p,
                at: 'key',
                found: `column "${c}" which is not declared for ${ctx.scope.table}`,
                expected: `one of ${[...(ctx.scope.always ?? []), ...ctx.scope.declared].join(', ')}`,
              });
          },
        });
  const userId = opt(doc.user_id, (r) => parseValue(r, [...path, 'user_id'], ctx));
  const openId = opt(doc.open_id, (r) => parseValue(r, [...path, 'open_id'], ctx));
  if (userId) checkNotEmpty(userId, [...path, 'user_id'], ctx.problems);
  if (openId) checkNotEmpty(openId, [...path, 'open_id'], ctx.problems);
  const links = compileLinks(doc.links, [...path, 'links'], ctx);
  const extra = compileExtra(doc.extra, [...path, 'extra'], ctx);
  const displayMethod = opt(doc.display_method, (r) =>
    parseValue(r, [...path, 'display_method'], ctx, DISPLAY),
  );
  if (
    ctx.problems.length > before ||
    userId === null ||
    openId === null ||
    links === null ||
    extra === null ||
    displayMethod === null
  )
    return null;
  return {
    table: doc.table,
    key,
    ...(where && { where }),
    ...(userId && { userId }),
    ...(openId && { openId }),
    ...(links && { links }),
    extra,
    ...(displayMethod && { displayMethod }),
  };
}

export function compileInstance(
  doc: InstanceDoc,
  path: readonly PathKey[],
  ctx: ParseContext,
  key: readonly string[],
): CompiledInstance | undefined {
  const before = ctx.problems.length;
  const baseParts = compileSourceBase(doc, path, ctx, key);
  checkIdText(doc.id, [...path, 'id'], ctx.problems);
  const id = compileId(doc.id, [...path, 'id'], ctx, key, true);
  const approvalCode = parseValue(doc.approval_code, [...path, 'approval_code'], ctx);
  if (approvalCode) checkNotEmpty(approvalCode, [...path, 'approval_code'], ctx.problems);
  const status = parseValue(doc.status, [...path, 'status'], ctx, STATUS);
  const title = opt(doc.title, (r) => parseText(r, [...path, 'title'], ctx));
  const userName = opt(doc.user_name, (r) => parseText(r, [...path, 'user_name'], ctx));
  const departmentId = opt(doc.department_id, (r) => parseValue(r, [...path, 'department_id'], ctx));
  const departmentName = opt(doc.department_name, (r) => parseText(r, [...path, 'department_name'], ctx));
  const startTime = parseValue(doc.start_time, [...path, 'start_time'], ctx);
  const endTime = opt(doc.end_time, (r) => parseValue(r, [...path, 'end_time'], ctx));
  const updateTime = parseValue(doc.update_time, [...path, 'update_time'], ctx);
  const form = (doc.form ?? []).map((f, i) => {
    const name = parseText(f.name, [...path, 'form', i, 'name'], ctx);
    const value = parseText(f.value, [...path, 'form', i, 'value'], ctx);
    return name && value ? { name, value } : undefined;
  });
  if (
    ctx.problems.length > before ||
    !baseParts ||
    !baseParts.links ||
    !id ||
    !approvalCode ||
    !status ||
    !startTime ||
    !updateTime
  )
    return undefined;
  return {
    ...baseParts,
    links: baseParts.links,
    id,
    onDelete: doc.on_delete ?? 'delete',
    approvalCode,
    status,
    ...(title && { title }),
    ...(userName && { userName }),
    ...(departmentId && { departmentId }),
    ...(departmentName && { departmentName }),
    startTime,
    ...(endTime && { endTime }),
    updateTime,
    form: form.filter((f) => f !== undefined),
  };
}

export type CtxFor = (
  table: string,
  declared: readonly string[] | undefined,
  always: readonly string[],
) => ParseContext;

function childBase(
  doc: TaskDoc | CcDoc,
  path: readonly PathKey[],
  instKey: readonly string[],
  collector: Collector,
  ctxFor: CtxFor,
  problems: PathProblem[],
) {
  const key = list(doc.key);
  const parent = list(doc.parent);
  collector.key(doc.table, key, [...path, 'key'], problems);
  if (parent.length !== instKey.length) {
    problems.push({
      path: [...path, 'parent'],
      found: describeFound(doc.parent),
      expected: `${instKey.length} column${instKey.length > 1 ? 's' : ''} holding the instance key (${instKey.join(', ')})`,
    });
  }
  for (const c of parent) collector.use(doc.table, c, [...path, 'parent']);
  const ctx = ctxFor(doc.table, doc.columns, [...key, ...parent]);
  const baseParts = compileSourceBase(doc, path, ctx, key);
  checkIdText(doc.id, [...path, 'id'], ctx.problems);
  const id = compileId(doc.id, [...path, 'id'], ctx, key, false);
  const createTime = parseValue(doc.create_time, [...path, 'create_time'], ctx);
  return { ctx, parent, baseParts, id, createTime };
}

export function compileTask(
  doc: TaskDoc,
  path: readonly PathKey[],
  instKey: readonly string[],
  collector: Collector,
  ctxFor: CtxFor,
  problems: PathProblem[],
): CompiledTask | undefined {
  const before = problems.length;
  const { ctx, parent, baseParts, id, createTime } = childBase(
    doc,
    path,
    instKey,
    collector,
    ctxFor,
    problems,
  );
  const status = parseValue(doc.status, [...path, 'status'], ctx, { values: TASK_STATUSES });
  const title = opt(doc.title, (r) => parseText(r, [...path, 'title'], ctx));
  const endTime = opt(doc.end_time, (r) => parseValue(r, [...path, 'end_time'], ctx));
  const updateTime = opt(doc.update_time, (r) => parseValue(r, [...path, 'update_time'], ctx));
  const nodeId = opt(doc.node_id, (r) => parseValue(r, [...path, 'node_id'], ctx));
  const nodeName = opt(doc.node_name, (r) => parseText(r, [...path, 'node_name'], ctx));
  if (problems.length > before || !baseParts || !id || !createTime || !status) return undefined;
  return {
    ...baseParts,
    id,
    parent,
    createTime,
    onDelete: doc.on_delete ?? 'drop',
    status,
    ...(title && { title }),
    ...(endTime && { endTime }),
    ...(updateTime && { updateTime }),
    ...(nodeId && { nodeId }),
    ...(nodeName && { nodeName }),
  };
}

export function compileCc(
  doc: CcDoc,
  path: readonly PathKey[],
  instKey: readonly string[],
  collector: Collector,
  ctxFor: CtxFor,
  problems: PathProblem[],
): CompiledCc | undefined {
  const before = problems.length;
  const { ctx, parent, baseParts, id, createTime } = childBase(
    doc,
    path,
    instKey,
    collector,
    ctxFor,
    problems,
  );
  const readStatus = parseValue(doc.read_status, [...path, 'read_status'], ctx, { values: READ_STATUSES });
  const updateTime = parseValue(doc.update_time, [...path, 'update_time'], ctx);
  if (problems.length > before || !baseParts || !id || !createTime || !readStatus || !updateTime)
    return undefined;
  return { ...baseParts, id, parent, createTime, onDelete: doc.on_delete ?? 'drop', readStatus, updateTime };
}
