// The approval bot message bodies (reference feishu-beyond-instances.md §4.3, §4.4, §4.10): types and
// strict zod schemas of message/send (the generic templates; the connector sends 1008) and
// message/update. The connector checks its cards with them before spending budget and the fake
// validates with the same rules. Invariant: unknown keys are refused (.strict(), §3.6: the real API
// ignores a misspelt field silently, so a mistake would otherwise never show), the i18n texts are the
// map form and the locales the three the bot API takes (§4.7).
import { z } from 'zod';
import { actionConfigFields, i18nKey } from './payload-schema.js';

export const MESSAGE_SEND_PATH = '/open-apis/approval/v1/message/send';
export const MESSAGE_UPDATE_PATH = '/open-apis/approval/v1/message/update';

export const BOT_LOCALES = ['zh-CN', 'en-US', 'ja-JP'] as const;
export type BotLocale = (typeof BOT_LOCALES)[number];

/** The only template message/update can change (§4.4), and so the one every actionable card uses. */
export const TODO_TEMPLATE = '1008';

export const CARD_STATUSES = [
  'APPROVED',
  'REJECTED',
  'CANCELLED',
  'FORWARDED',
  'ROLLBACK',
  'ADD',
  'DELETED',
  'PROCESSED',
  'CUSTOM',
] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];

const withScheme = z.string().regex(/^https?:\/\/\S+$/, 'must be a URL with http or https');
const i18nMap = z
  .array(
    z
      .object({
        locale: z.enum(BOT_LOCALES),
        is_default: z.boolean(),
        texts: z.record(i18nKey, z.string()),
      })
      .strict(),
  )
  .min(1);

const action = z
  .object({
    action_name: z.string().min(1),
    url: z.string().optional(),
    android_url: z.string().optional(),
    ios_url: z.string().optional(),
    pc_url: z.string().optional(),
  })
  .strict();

const actionConfig = z.object({ ...actionConfigFields, next_status: z.string().optional() }).strict();

export const messageSendSchema = z
  .object({
    template_id: z.enum([
      '1001',
      '1002',
      '1003',
      '1004',
      '1005',
      '1006',
      '1007',
      '1008',
      '1009',
      '1010',
      '1011',
      '1012',
      '1013',
      '1015',
      '1016',
      '1017',
      '1018',
      '1019',
      '1020',
      '1021',
      '1024',
      '1026',
      '1027',
      '1028',
    ]),
    user_id: z.string().min(1).optional(),
    open_id: z.string().min(1).optional(),
    uuid: z.string().min(1).max(64).optional(),
    approval_name: i18nKey.optional(),
    title_user_id: z.string().optional(),
    title_user_id_type: z.enum(['user_id', 'open_id']).optional(),
    comment: i18nKey.optional(),
    content: z
      .object({
        user_id: z.string().optional(),
        user_id_type: z.enum(['user_id', 'open_id']).optional(),
        department_id: z.string().optional(),
        user_name: i18nKey.optional(),
        department_name: i18nKey.optional(),
        summaries: z
          .array(z.object({ summary: i18nKey }).strict())
          .min(1)
          .max(5),
      })
      .strict()
      .optional(),
    note: i18nKey.optional(),
    sender_user_id: z.string().optional(),
    text: z.string().optional(),
    custom_title: i18nKey.optional(),
    custom_content: i18nKey.optional(),
    actions: z.array(action).min(1).max(2).optional(),
    action_configs: z.array(actionConfig).max(2).optional(),
    action_callback: z
      .object({
        action_callback_url: withScheme,
        action_callback_token: z.string().min(1),
        action_callback_key: z.string().optional(),
        action_context: z.string().optional(),
      })
      .strict()
      .optional(),
    i18n_resources: i18nMap,
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.user_id && !v.open_id)
      ctx.addIssue({ code: 'custom', path: ['user_id'], message: 'one of user_id or open_id is required' });
    if (v.template_id === '1021') return;
    for (const field of ['approval_name', 'content', 'actions'] as const)
      if (v[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'is required' });
    if (v.actions?.[0] && v.actions[0].action_name !== 'DETAIL')
      ctx.addIssue({ code: 'custom', path: ['actions', 0, 'action_name'], message: 'must be DETAIL' });
  });

export type MessageSendBody = z.infer<typeof messageSendSchema>;

export const messageUpdateSchema = z
  .object({
    message_id: z.string().min(1),
    status: z.enum(CARD_STATUSES),
    status_name: i18nKey.optional(),
    detail_action_name: i18nKey.optional(),
    i18n_resources: i18nMap,
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.status !== 'CUSTOM') return;
    for (const field of ['status_name', 'detail_action_name'] as const)
      if (v[field] === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: 'is required with status CUSTOM' });
  });

export type MessageUpdateBody = z.infer<typeof messageUpdateSchema>;

/** The four action URLs with a scheme each (§4.6); the real API answers 60001 with HTTP 200 otherwise. */
export function actionUrlsComplete(body: MessageSendBody): boolean {
  return (body.actions ?? []).every((a) =>
    [a.url, a.android_url, a.ios_url, a.pc_url].every((u) => u !== undefined && /^https?:\/\/\S+$/.test(u)),
  );
}
