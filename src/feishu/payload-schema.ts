// The zod schemas of the Feishu request bodies the connector sends (reference/feishu-api.md §1.2, §2,
// §3, §5.1) and the documented limits a payload must stay within. The client's callers check
// payloads here before spending rate budget, and the fake server validates with the very same rules,
// so the two can never disagree about what Feishu accepts.
// Invariant: the schemas mirror the reference field for field; rules that are not in the reference are
// not enforced here (unknown fields are stripped, as the real API ignores them).
import { z } from 'zod';
import type { ExternalInstance } from './external-instance.js';

export const I18N_PREFIX = '@i18n@';

export const LOCALES = [
  'zh-CN',
  'en-US',
  'ja-JP',
  'zh-HK',
  'zh-TW',
  'de-DE',
  'es-ES',
  'fr-FR',
  'id-ID',
  'it-IT',
  'ko-KR',
  'pt-BR',
  'th-TH',
  'vi-VN',
  'ms-MY',
  'ru-RU',
] as const;

export const i18nKey = z.string().startsWith(I18N_PREFIX, `must be an ${I18N_PREFIX} key`);
const msTimestamp = z.string().regex(/^\d+$/, 'must be a string of digits (epoch milliseconds)');
// An unfinished instance or task has end_time 0; the tutorial sends the number, the SDK the string.
const endTime = z.union([msTimestamp, z.literal(0)], { error: 'must be a string of digits or 0' });
const displayMethod = z.enum(['BROWSER', 'SIDEBAR', 'NORMAL', 'TRUSTEESHIP']);
const links = z.object({ pc_link: z.string().min(1), mobile_link: z.string().optional() });

/** user_id and open_id are both optional, but the doc requires at least one on tasks and CCs. */
function requireUserIdentity(
  value: { user_id?: string | undefined; open_id?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (!value.user_id && !value.open_id) {
    ctx.addIssue({ code: 'custom', path: ['user_id'], message: 'one of user_id or open_id is required' });
  }
}

/** The fields of an action button, shared by a task's action_configs and a bot card's. */
export const actionConfigFields = {
  action_type: z.string().min(1),
  action_name: i18nKey.optional(),
  is_need_reason: z.boolean().optional(),
  is_reason_required: z.boolean().optional(),
  is_need_attachment: z.boolean().optional(),
};

const actionConfig = z.object(actionConfigFields).superRefine((value, ctx) => {
  if (value.action_type !== 'APPROVE' && value.action_type !== 'REJECT' && value.action_name === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['action_name'],
      message: 'is required for a custom action_type',
    });
  }
});

export const externalTaskSchema = z
  .object({
    task_id: z.string().min(1),
    user_id: z.string().optional(),
    open_id: z.string().optional(),
    title: i18nKey.optional(),
    links,
    status: z.enum(['PENDING', 'APPROVED', 'REJECTED', 'TRANSFERRED', 'DONE']),
    extra: z.string().optional(),
    create_time: msTimestamp,
    end_time: endTime,
    update_time: msTimestamp.optional(),
    action_context: z.string().optional(),
    action_configs: z.array(actionConfig).optional(),
    display_method: displayMethod.optional(),
    exclude_statistics: z.boolean().optional(),
    node_id: z.string().optional(),
    node_name: i18nKey.optional(),
    generate_type: z.enum(['EXTERNAL_CONSIGN', 'DEFAULT']).optional(),
  })
  .superRefine(requireUserIdentity);

export const externalCcSchema = z
  .object({
    cc_id: z.string().min(1),
    user_id: z.string().optional(),
    open_id: z.string().optional(),
    links,
    read_status: z.enum(['READ', 'UNREAD']),
    extra: z.string().optional(),
    // The reference does not call the CC title an i18n key, so any string passes the schema.
    title: z.string().optional(),
    create_time: msTimestamp,
    update_time: msTimestamp,
    display_method: displayMethod.optional(),
  })
  .superRefine(requireUserIdentity);

export const i18nResourceSchema = z.object({
  locale: z.enum(LOCALES),
  is_default: z.boolean(),
  texts: z.array(z.object({ key: i18nKey, value: z.string() })),
});

export const externalInstanceSchema = z.object({
  approval_code: z.string().min(1),
  status: z.enum(['PENDING', 'APPROVED', 'REJECTED', 'CANCELED', 'DELETED', 'HIDDEN', 'TERMINATED']),
  extra: z.string().optional(),
  instance_id: z.string().min(1),
  links,
  title: i18nKey.optional(),
  form: z.array(z.object({ name: i18nKey, value: i18nKey })).optional(),
  user_id: z.string().optional(),
  user_name: i18nKey.optional(),
  open_id: z.string().optional(),
  department_id: z.string().optional(),
  department_name: i18nKey.optional(),
  start_time: msTimestamp,
  end_time: endTime,
  update_time: msTimestamp,
  display_method: displayMethod.optional(),
  update_mode: z.enum(['REPLACE', 'UPDATE']).optional(),
  task_list: z.array(externalTaskSchema).optional(),
  cc_list: z.array(externalCcSchema).optional(),
  i18n_resources: z.array(i18nResourceSchema),
  trusteeship_url_token: z.string().optional(),
  trusteeship_user_id_type: z.string().optional(),
  trusteeship_urls: z
    .object({
      form_detail_url: z.string().optional(),
      action_definition_url: z.string().optional(),
      approval_node_url: z.string().optional(),
      action_callback_url: z.string().optional(),
      pull_business_data_url: z.string().optional(),
    })
    .optional(),
  trusteeship_cache_config: z
    .object({
      form_policy: z.enum(['DISABLE', 'IMMUTABLE', 'BY_NODE', 'BY_USER']).optional(),
      form_vary_with_locale: z.boolean().optional(),
      form_version: z.string().optional(),
    })
    .optional(),
  resource_region: z.string().optional(),
});

export const checkBodySchema = z.object({
  instances: z.array(
    z.object({
      instance_id: z.string().min(1),
      update_time: msTimestamp,
      tasks: z.array(z.object({ task_id: z.string().min(1), update_time: msTimestamp })),
    }),
  ),
});
export type CheckBody = z.infer<typeof checkBodySchema>;
export type CheckInstance = CheckBody['instances'][number];

export const diffInstanceSchema = z.object({
  instance_id: z.string(),
  update_time: z.string().optional(),
  tasks: z.array(z.object({ task_id: z.string(), update_time: z.string() })).optional(),
});
export type DiffInstance = z.infer<typeof diffInstanceSchema>;

export const tokenRequestSchema = z.object({ app_id: z.string().min(1), app_secret: z.string().min(1) });
export type TokenRequest = z.infer<typeof tokenRequestSchema>;

export const externalApprovalSchema = z
  .object({
    approval_name: i18nKey.min(9, 'must be at least 9 characters'),
    approval_code: z.string().min(1).max(128),
    group_code: z.string().optional(),
    group_name: i18nKey.optional(),
    description: i18nKey.optional(),
    external: z.object({
      biz_name: i18nKey.optional(),
      biz_type: z.string().optional(),
      create_link_mobile: z.string().optional(),
      create_link_pc: z.string().optional(),
      support_pc: z.boolean().optional(),
      support_mobile: z.boolean().optional(),
      support_batch_read: z.boolean().optional(),
      enable_mark_readed: z.boolean().optional(),
      enable_quick_operate: z.boolean().optional(),
      action_callback_url: z.string().optional(),
      action_callback_token: z.string().optional(),
      action_callback_key: z.string().optional(),
      allow_batch_operate: z.boolean().optional(),
      exclude_efficiency_statistics: z.boolean().optional(),
    }),
    viewers: z
      .array(
        z.object({
          viewer_type: z.enum(['TENANT', 'DEPARTMENT', 'USER', 'NONE']),
          viewer_user_id: z.string().optional(),
          viewer_department_id: z.string().optional(),
        }),
      )
      .max(200)
      .optional(),
    i18n_resources: z.array(i18nResourceSchema).optional(),
    managers: z.array(z.string()).max(200).optional(),
  })
  .superRefine((value, ctx) => {
    if (!value.external.support_pc && !value.external.support_mobile) {
      ctx.addIssue({
        code: 'custom',
        path: ['external', 'support_pc'],
        message: 'support_pc and support_mobile must not both be false',
      });
    }
  });
export type ExternalApprovalBody = z.input<typeof externalApprovalSchema>;

/** Renders a zod error as `path: message; path: message`, naming the offending fields. */
export function describeSchemaIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join('; ');
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(body)';
}

export interface PayloadLimits {
  maxTasks: number;
  maxCcs: number;
  maxFormChars: number;
  maxActionsPerTask: number;
}

// task_list is 300 in the Feishu doc but 200 in the Lark copy (reference §1.2), hence a parameter.
/**
 * Field rules the reference leaves open (§1.2: no documented length for ids, titles or links), chosen
 * conservatively so a payload that would be cut or refused is parked with its field path instead:
 * ids of at most 128 characters (the one documented id length of this API, approval_code's) without
 * whitespace or control characters; texts (title, names, form values) of at most 1,000 characters;
 * links absolute http(s) URLs of at most 2,048 characters; approval_code, user_id and open_id
 * non-empty when present.
 */
export const FIELD_LIMITS = { maxIdChars: 128, maxTextChars: 1000, maxLinkChars: 2048 } as const;

export const DEFAULT_PAYLOAD_LIMITS: PayloadLimits = {
  maxTasks: 300,
  maxCcs: 200,
  maxFormChars: 2048,
  maxActionsPerTask: 2,
};

/**
 * The documented limits and cross-field rules a schema cannot express, as human messages; empty when
 * the payload is sendable. The form limit (reference: "长度不超过 2048 字符", per value or total
 * UNCONFIRMED) is taken as the strictest reading: the sum of the resolved name and value texts of all
 * form entries in the default locale, counted in Unicode code points.
 */
export function payloadLimitViolations(
  payload: ExternalInstance,
  limits: Partial<PayloadLimits> = {},
): string[] {
  const max = { ...DEFAULT_PAYLOAD_LIMITS, ...limits };
  const out: string[] = [];
  const tasks = payload.task_list ?? [];
  const ccs = payload.cc_list ?? [];

  if (tasks.length > max.maxTasks)
    out.push(`task_list has ${tasks.length} entries; Feishu accepts at most ${max.maxTasks}`);
  if (ccs.length > max.maxCcs)
    out.push(`cc_list has ${ccs.length} entries; Feishu accepts at most ${max.maxCcs}`);

  const defaults = payload.i18n_resources.filter((r) => r.is_default);
  if (defaults.length !== 1) {
    out.push(`i18n_resources has ${defaults.length} default locales; Feishu requires exactly one`);
  }
  const seenLocales = new Set<string>();
  for (const resource of payload.i18n_resources) {
    if (seenLocales.has(resource.locale))
      out.push(`i18n_resources lists locale ${resource.locale} more than once`);
    seenLocales.add(resource.locale);
  }
  const texts = new Map<string, string>();
  if (defaults.length === 1) for (const t of defaults[0]?.texts ?? []) texts.set(t.key, t.value);

  const resolve = (field: string, key: string | undefined): void => {
    if (key === undefined || !key.startsWith(I18N_PREFIX) || defaults.length !== 1) return;
    if (!texts.has(key)) out.push(`${field} uses ${key}, which the default locale does not define`);
  };
  resolve('title', payload.title);
  resolve('user_name', payload.user_name);
  resolve('department_name', payload.department_name);
  let formChars = 0;
  (payload.form ?? []).forEach((entry, i) => {
    resolve(`form[${i}].name`, entry.name);
    resolve(`form[${i}].value`, entry.value);
    formChars +=
      codePoints(texts.get(entry.name) ?? entry.name) + codePoints(texts.get(entry.value) ?? entry.value);
  });
  if (formChars > max.maxFormChars) {
    out.push(
      `form has ${formChars} characters in the default locale; Feishu accepts at most ${max.maxFormChars}`,
    );
  }

  const ids = new Map<string, string>([[payload.instance_id, 'instance_id']]);
  const claimId = (id: string, owner: string): void => {
    const previous = ids.get(id);
    if (previous !== undefined)
      out.push(`${owner} ${id} repeats ${previous}; ids must be unique across instance, tasks and CCs`);
    else ids.set(id, owner);
  };
  tasks.forEach((task, i) => {
    claimId(task.task_id, `task_list[${i}].task_id`);
    resolve(`task_list[${i}].title`, task.title);
    resolve(`task_list[${i}].node_name`, task.node_name);
    const actions = task.action_configs ?? [];
    if (actions.length > max.maxActionsPerTask) {
      out.push(
        `task_list[${i}].action_configs has ${actions.length} entries; Feishu accepts at most ${max.maxActionsPerTask}`,
      );
    }
    actions.forEach((a, j) => resolve(`task_list[${i}].action_configs[${j}].action_name`, a.action_name));
    if ((task.generate_type as string | undefined) === '') {
      out.push(`task_list[${i}].generate_type is ""; omit it instead`);
    }
  });
  ccs.forEach((cc, i) => {
    claimId(cc.cc_id, `cc_list[${i}].cc_id`);
    resolve(`cc_list[${i}].title`, cc.title);
  });
  out.push(...fieldViolations(payload, texts));
  return out;
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

const ID_BAD = /[\s\p{Cc}]/u;
const URL_FORM = /^https?:\/\/[^\s/?#]+[^\s]*$/i;

/** The FIELD_LIMITS rules, each message starting with the field path. */
function fieldViolations(payload: ExternalInstance, texts: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  const id = (field: string, value: string): void => {
    if (value === '') out.push(`${field} is empty`);
    else if (ID_BAD.test(value))
      out.push(`${field} ${JSON.stringify(value.slice(0, 40))} holds whitespace or a control character`);
    else if (codePoints(value) > FIELD_LIMITS.maxIdChars)
      out.push(`${field} has ${codePoints(value)} characters; at most ${FIELD_LIMITS.maxIdChars}`);
  };
  const text = (field: string, key: string | undefined): void => {
    if (key === undefined) return;
    const value = texts.get(key) ?? key;
    if (codePoints(value) > FIELD_LIMITS.maxTextChars)
      out.push(`${field} has ${codePoints(value)} characters; at most ${FIELD_LIMITS.maxTextChars}`);
  };
  const link = (field: string, value: string | undefined): void => {
    if (value === undefined) return;
    if (!URL_FORM.test(value))
      out.push(`${field} ${JSON.stringify(value.slice(0, 60))} is not an absolute http(s) URL`);
    else if (value.length > FIELD_LIMITS.maxLinkChars)
      out.push(`${field} has ${value.length} characters; at most ${FIELD_LIMITS.maxLinkChars}`);
  };
  const present = (field: string, value: string | undefined): void => {
    if (value === '') out.push(`${field} is ""; omit it instead`);
  };
  id('instance_id', payload.instance_id);
  id('approval_code', payload.approval_code);
  text('title', payload.title);
  text('user_name', payload.user_name);
  text('department_name', payload.department_name);
  present('user_id', payload.user_id);
  present('open_id', payload.open_id);
  link('links.pc_link', payload.links.pc_link);
  link('links.mobile_link', payload.links.mobile_link);
  (payload.task_list ?? []).forEach((t, i) => {
    id(`task_list[${i}].task_id`, t.task_id);
    present(`task_list[${i}].user_id`, t.user_id);
    present(`task_list[${i}].open_id`, t.open_id);
    link(`task_list[${i}].links.pc_link`, t.links.pc_link);
    link(`task_list[${i}].links.mobile_link`, t.links.mobile_link);
  });
  (payload.cc_list ?? []).forEach((c, i) => {
    id(`cc_list[${i}].cc_id`, c.cc_id);
    present(`cc_list[${i}].user_id`, c.user_id);
    present(`cc_list[${i}].open_id`, c.open_id);
    link(`cc_list[${i}].links.pc_link`, c.links.pc_link);
    link(`cc_list[${i}].links.mobile_link`, c.links.mobile_link);
  });
  return out;
}
