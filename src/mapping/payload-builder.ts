// Builds the Feishu payload of one instance from its loaded rows. Pure: reads only `load`.
// Invariants: never throws for bad data (every problem becomes `unmappable` naming the mapping, the
// row key and the field); timestamps are epoch-ms strings and an unfinished end_time is "0"; tasks
// and CCs come out in a stable order (source order, then key); every id in the payload is distinct.
import type { BuildResult, InstanceRef, LoadedRow, RowImage, RowQuery } from './contract.js';
import type {
  ExternalCc,
  ExternalInstance,
  ExternalTask,
  FormEntry,
  InstanceStatus,
  Links,
  ReadStatus,
  TaskStatus,
  DisplayMethod,
} from '../feishu/external-instance.js';
import {
  DROP_PERSON,
  evaluate,
  EvalError,
  matchText,
  pickRow,
  type Expr,
  type RowSource,
} from './expression.js';
import type { TextExpr } from './text-parser.js';
import { matchesFilter } from './filter.js';
import { I18nCollector } from './i18n-collector.js';
import type { CompiledChild, CompiledLinks, CompiledMapping, CompiledSource } from './compiled-mapping.js';
import { DISPLAY_METHODS, INSTANCE_STATUSES, READ_STATUSES, TASK_STATUSES } from './compiled-mapping.js';

const MAX_REASONS = 8;

export function instanceQuery(m: CompiledMapping, key: readonly string[]): RowQuery {
  return {
    table: m.instance.table,
    match: Object.fromEntries(m.instance.key.map((c, i) => [c, key[i] ?? ''])),
  };
}

export function childQuery(child: CompiledChild, key: readonly string[]): RowQuery {
  return { table: child.table, match: Object.fromEntries(child.parent.map((c, i) => [c, key[i] ?? ''])) };
}

/** Orders key values as numbers when both are integers, as text otherwise. */
export function compareKeyText(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const ia = /^-?\d+$/.test(a);
  const ib = /^-?\d+$/.test(b);
  if (ia && ib) {
    const [x, y] = [BigInt(a), BigInt(b)];
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : 1;
}

const describeRow = (table: string, key: readonly string[], row: RowImage): string =>
  `${table} (${key.map((k) => `${k}=${row[k] ?? 'null'}`).join(', ')})`;

/** Evaluation of one row's fields, collecting problems instead of throwing. */
class RowEval {
  constructor(
    private readonly row: RowImage,
    private readonly where: string,
    private readonly load: RowSource,
    private readonly problems: string[],
  ) {}

  opt(field: string, e: Expr | undefined): string | null {
    return e ? this.run(field, e).value : null;
  }

  req(field: string, e: Expr): string {
    const { value, notes, failed } = this.run(field, e);
    if (value === null && !failed)
      this.fail(field, `is required but evaluated to null${notes.length ? ` (${notes.join('; ')})` : ''}`);
    return value ?? '';
  }

  oneOf<T extends string>(field: string, e: Expr, allowed: readonly T[]): T {
    const v = this.req(field, e);
    if (v !== '' && !allowed.includes(v as T))
      this.fail(field, `${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
    return v as T;
  }

  optOneOf<T extends string>(field: string, e: Expr | undefined, allowed: readonly T[]): T | undefined {
    const v = this.opt(field, e);
    if (v === null) return undefined;
    if (!allowed.includes(v as T))
      this.fail(field, `${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
    return v as T;
  }

  /** Epoch-ms text; null (unfinished) becomes "0", as Feishu wants for end_time. */
  endTime(field: string, e: Expr | undefined): string {
    return this.opt(field, e) ?? '0';
  }

  text(
    field: string,
    t: TextExpr | undefined,
    slot: string,
    i18n: I18nCollector,
    defaultLocale: string,
  ): string | undefined {
    const values = this.textValues(field, t, defaultLocale);
    return values && i18n.add(slot, values);
  }

  /** The text per locale, or undefined when the default locale's text is null. */
  textValues(field: string, t: TextExpr | undefined, defaultLocale: string): Map<string, string> | undefined {
    if (!t) return undefined;
    const values = new Map<string, string>();
    for (const [locale, e] of t) {
      const v = this.opt(locale === defaultLocale ? field : `${field}.${locale}`, e);
      if (v !== null) values.set(locale, v);
    }
    return values.has(defaultLocale) ? values : undefined;
  }

  links(own: CompiledLinks | undefined, fallback: Links): Links {
    if (!own) return fallback;
    const mobile = this.opt('links.mobile_link', own.mobileLink);
    return {
      pc_link: this.req('links.pc_link', own.pcLink),
      ...(mobile !== null && { mobile_link: mobile }),
    };
  }

  extra(src: CompiledSource): string | undefined {
    const entries = src.extra
      .map(([k, e]) => [k, this.opt(`extra.${k}`, e)] as const)
      .filter(([, v]) => v !== null);
    return entries.length ? JSON.stringify(Object.fromEntries(entries)) : undefined;
  }

  /**
   * user_id / open_id: at least one is required when `required`. Null when the person is unresolved
   * and the mapping says `otherwise: drop` (the task or CC is left out).
   */
  person(src: CompiledSource, required: boolean): { user_id?: string; open_id?: string } | null {
    const user = src.userId ? this.run('user_id', src.userId) : undefined;
    const open = src.openId ? this.run('open_id', src.openId) : undefined;
    const userId = user?.value ?? null;
    const openId = open?.value ?? null;
    const dropped = [...(user?.notes ?? []), ...(open?.notes ?? [])].includes(DROP_PERSON);
    if (userId === null && openId === null && dropped) return null;
    if (required && userId === null && openId === null && (user || open) && !user?.failed && !open?.failed) {
      const notes = [...(user?.notes ?? []), ...(open?.notes ?? [])];
      this.fail(
        user ? 'user_id' : 'open_id',
        `is required but evaluated to null${notes.length ? ` (${notes.join('; ')})` : ''}`,
      );
    }
    return { ...(userId !== null && { user_id: userId }), ...(openId !== null && { open_id: openId }) };
  }

  private run(field: string, e: Expr): { value: string | null; notes: string[]; failed: boolean } {
    const notes: string[] = [];
    try {
      const value = evaluate(e, { row: this.row, load: this.load, notes });
      return { value, notes, failed: false };
    } catch (err) {
      this.fail(field, err instanceof EvalError ? err.message : String(err));
      return { value: null, notes, failed: true };
    }
  }

  fail(field: string, what: string): void {
    this.problems.push(`${this.where} field ${field}: ${what}`);
  }
}

/** Rows of a child source that make it into the payload, in key order, with their deletion flag. */
function childRows(child: CompiledChild & { onDelete: unknown }, rows: readonly LoadedRow[]): LoadedRow[] {
  return rows
    .filter((r) => matchesFilter(child.where, r.values) && (!r.deleted || child.onDelete !== 'drop'))
    .filter((r) => child.parent.every((c) => r.values[c] !== null && r.values[c] !== undefined))
    .sort((a, b) => {
      for (const k of child.key) {
        const c = compareKeyText(a.values[k] ?? null, b.values[k] ?? null);
        if (c !== 0) return c;
      }
      return 0;
    });
}

export function buildPayload(m: CompiledMapping, ref: InstanceRef, load: RowSource): BuildResult {
  const inst = m.instance;
  const refText = `mapping ${m.name} instance ${inst.key.map((k, i) => `${k}=${ref.key[i] ?? '?'}`).join(', ')}`;
  if (ref.key.length !== inst.key.length) {
    return {
      kind: 'unmappable',
      reason: `${refText}: the key has ${ref.key.length} values; expected ${inst.key.length}`,
    };
  }
  const rows = load(instanceQuery(m, ref.key));
  if (rows === undefined)
    return { kind: 'unmappable', reason: `${refText}: the instance row was not loaded` };
  const matching = rows.filter((r) => matchesFilter(inst.where, r.values));
  const live = pickRow(matching.filter((r) => !r.deleted));
  const tomb = live ? undefined : pickRow(matching.filter((r) => r.deleted));
  if (!live && (!tomb || inst.onDelete === 'ignore')) return { kind: 'absent' };
  const row = (live ?? tomb)?.values ?? {};
  const deleted = !live;

  const problems: string[] = [];
  const i18n = new I18nCollector(m.defaultLocale);
  const ev = new RowEval(row, describeRow(inst.table, inst.key, row), load, problems);
  const instanceId = ev.req('id', inst.id);
  const status: InstanceStatus = deleted
    ? 'DELETED'
    : ev.oneOf('status', inst.status, INSTANCE_STATUSES as InstanceStatus[]);
  const links = ev.links(inst.links, { pc_link: '' });
  const title = ev.text('title', inst.title, 'title', i18n, m.defaultLocale);
  const form: FormEntry[] = [];
  inst.form.forEach((f, i) => {
    // An entry whose name or value is null is left out, and so are its texts.
    const name = ev.textValues(`form[${i}].name`, f.name, m.defaultLocale);
    const value = ev.textValues(`form[${i}].value`, f.value, m.defaultLocale);
    if (name && value)
      form.push({ name: i18n.add(`form.${i}.name`, name), value: i18n.add(`form.${i}.value`, value) });
  });
  const person = ev.person(inst, !deleted) ?? {};
  const userName = ev.text('user_name', inst.userName, 'user_name', i18n, m.defaultLocale);
  const departmentId = ev.opt('department_id', inst.departmentId);
  const departmentName = ev.text(
    'department_name',
    inst.departmentName,
    'department_name',
    i18n,
    m.defaultLocale,
  );
  const payload: Omit<ExternalInstance, 'i18n_resources'> = {
    approval_code: ev.req('approval_code', inst.approvalCode),
    status,
    ...optional('extra', ev.extra(inst)),
    instance_id: instanceId,
    links,
    ...optional('title', title),
    ...(inst.form.length > 0 && { form }),
    ...optional('user_id', person.user_id),
    ...optional('user_name', userName),
    ...optional('open_id', person.open_id),
    ...optional('department_id', departmentId ?? undefined),
    ...optional('department_name', departmentName),
    start_time: ev.req('start_time', inst.startTime),
    end_time: ev.endTime('end_time', inst.endTime),
    update_time: ev.req('update_time', inst.updateTime),
    ...optional(
      'display_method',
      ev.optOneOf<DisplayMethod>('display_method', inst.displayMethod, DISPLAY_METHODS),
    ),
    update_mode: m.updateMode,
  };

  const ids = new Map<string, string>([[instanceId, 'instance_id']]);
  const claim = (id: string, where: string): void => {
    const other = ids.get(id);
    if (other) problems.push(`${where}: id ${JSON.stringify(id)} is also the ${other}`);
    else ids.set(id, where);
  };

  if (m.tasks.length > 0) {
    const tasks: ExternalTask[] = [];
    if (!deleted) {
      for (const src of m.tasks) {
        const loaded = load(childQuery(src, ref.key));
        if (loaded === undefined) {
          problems.push(`${src.table} rows of the instance were not loaded`);
          continue;
        }
        for (const r of childRows(src, loaded)) {
          const where = `task ${describeRow(src.table, src.key, r.values)}`;
          const tv = new RowEval(r.values, where, load, problems);
          const slot = `task.${tasks.length}`;
          const forced = r.deleted && typeof src.onDelete === 'object' ? src.onDelete.status : undefined;
          const person = tv.person(src, true);
          if (person === null) continue;
          const task: ExternalTask = {
            task_id: tv.req('id', src.id),
            ...person,
            ...optional('title', tv.text('title', src.title, `${slot}.title`, i18n, m.defaultLocale)),
            links: tv.links(src.links, links),
            status: forced ?? tv.oneOf<TaskStatus>('status', src.status, TASK_STATUSES),
            ...optional('extra', tv.extra(src)),
            create_time: tv.req('create_time', src.createTime),
            end_time: tv.endTime('end_time', src.endTime),
            ...optional('update_time', tv.opt('update_time', src.updateTime) ?? undefined),
            ...optional(
              'display_method',
              tv.optOneOf<DisplayMethod>('display_method', src.displayMethod, DISPLAY_METHODS),
            ),
            ...optional('node_id', tv.opt('node_id', src.nodeId) ?? undefined),
            ...optional(
              'node_name',
              tv.text('node_name', src.nodeName, `${slot}.node_name`, i18n, m.defaultLocale),
            ),
          };
          claim(task.task_id, where);
          tasks.push(task);
        }
      }
    }
    payload.task_list = tasks;
  }

  if (m.ccs.length > 0) {
    const ccs: ExternalCc[] = [];
    if (!deleted) {
      for (const src of m.ccs) {
        const loaded = load(childQuery(src, ref.key));
        if (loaded === undefined) {
          problems.push(`${src.table} rows of the instance were not loaded`);
          continue;
        }
        for (const r of childRows(src, loaded)) {
          const where = `cc ${describeRow(src.table, src.key, r.values)}`;
          const cv = new RowEval(r.values, where, load, problems);
          const forced = r.deleted && typeof src.onDelete === 'object' ? src.onDelete.read_status : undefined;
          const person = cv.person(src, true);
          if (person === null) continue;
          const cc: ExternalCc = {
            cc_id: cv.req('id', src.id),
            ...person,
            links: cv.links(src.links, links),
            read_status: forced ?? cv.oneOf<ReadStatus>('read_status', src.readStatus, READ_STATUSES),
            ...optional('extra', cv.extra(src)),
            create_time: cv.req('create_time', src.createTime),
            update_time: cv.req('update_time', src.updateTime),
            ...optional(
              'display_method',
              cv.optOneOf<DisplayMethod>('display_method', src.displayMethod, DISPLAY_METHODS),
            ),
          };
          claim(cc.cc_id, where);
          ccs.push(cc);
        }
      }
    }
    payload.cc_list = ccs;
  }

  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_REASONS).join('; ');
    const more = problems.length > MAX_REASONS ? `; and ${problems.length - MAX_REASONS} more` : '';
    const reason = `${refText}: ${shown}${more}`;
    return deleted ? { kind: 'unmappable', reason, deletedRow: true } : { kind: 'unmappable', reason };
  }
  return {
    kind: 'payload',
    payload: { ...payload, i18n_resources: i18n.resources() },
    updateMode: m.updateMode,
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

export { matchText };
