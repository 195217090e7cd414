// Builds the approval bot card (template 1008, feishu-beyond-instances.md §4.3/§4.8) that tells a
// task's approver about it, from the instance payload the sync stage pushed, and the card update that
// closes it. Pure: no clock, no I/O; the callback secret is added by the notifier at send time, so it
// is never stored with the card.
// Invariants: a card's texts are the pushed instance's texts (what the approver sees in Approval
// Center), in the map form and the locales the bot API takes (§4.7); no next_status is sent, so a
// click never flips the card before the legacy system has accepted the decision (§5.5, option A).
import { createHash } from 'node:crypto';
import {
  BOT_LOCALES,
  TODO_TEMPLATE,
  type CardStatus,
  type MessageSendBody,
  type MessageUpdateBody,
} from '../feishu/bot-message-schema.js';
import type { ExternalInstance, ExternalTask } from '../feishu/external-instance.js';
import type { LoopConfig } from '../mapping/loop-config.js';

const MAX_SUMMARIES = 5;

/** The idempotency key of the card of one pending episode of a task (≤ 64 chars, §4.5). */
export function cardUuid(instanceId: string, taskId: string, version: number): string {
  const digest = createHash('sha256').update(`${instanceId}\n${taskId}`).digest('hex').slice(0, 40);
  return `c:${digest}:${version}`;
}

/** The recipient of a task's card: its user_id (callbacks name operators by user_id, §2.5). */
export function recipientOf(task: ExternalTask): string | undefined {
  return task.user_id;
}

/** Texts of the instance per bot locale; the default locale first. */
function localesOf(
  instance: ExternalInstance,
): { locale: string; isDefault: boolean; texts: Map<string, string> }[] {
  const out = instance.i18n_resources
    .filter((r) => (BOT_LOCALES as readonly string[]).includes(r.locale))
    .map((r) => ({
      locale: r.locale,
      isDefault: r.is_default,
      texts: new Map(r.texts.map((t) => [t.key, t.value])),
    }));
  if (out.length === 0) {
    // No locale the bot API takes: the default texts are sent as zh-CN rather than no card at all.
    const d = instance.i18n_resources.find((r) => r.is_default) ?? instance.i18n_resources[0];
    out.push({
      locale: 'zh-CN',
      isDefault: true,
      texts: new Map((d?.texts ?? []).map((t) => [t.key, t.value])),
    });
  }
  if (!out.some((r) => r.isDefault)) (out[0] as { isDefault: boolean }).isDefault = true;
  return out;
}

export interface CardInput {
  instance: ExternalInstance;
  task: ExternalTask;
  loop: LoopConfig;
  uuid: string;
}

/** The message/send body of a task's card, without action_callback (added at send time). */
export function buildTodoCard({ instance, task, loop, uuid }: CardInput): MessageSendBody {
  const locales = localesOf(instance);
  const text = (texts: Map<string, string>, key: string | undefined): string =>
    key === undefined ? '' : (texts.get(key) ?? key);
  const summaryKeys = (instance.form ?? []).slice(0, MAX_SUMMARIES).map((_, i) => `@i18n@s${i + 1}`);
  const note = loop.notify?.note;
  const i18n = locales.map(({ locale, isDefault, texts }) => {
    const map: Record<string, string> = {
      '@i18n@name': text(texts, instance.title) || instance.instance_id,
    };
    (instance.form ?? []).slice(0, MAX_SUMMARIES).forEach((f, i) => {
      map[`@i18n@s${i + 1}`] = `${text(texts, f.name)}: ${text(texts, f.value)}`;
    });
    if (summaryKeys.length === 0) map['@i18n@s1'] = map['@i18n@name'] as string;
    if (instance.user_name) map['@i18n@applicant'] = text(texts, instance.user_name);
    if (note) map['@i18n@note'] = note[locale] ?? Object.values(note)[0] ?? '';
    return { locale: locale as (typeof BOT_LOCALES)[number], is_default: isDefault, texts: map };
  });
  const pc = task.links.pc_link;
  const mobile = task.links.mobile_link ?? pc;
  const quick = loop.quickApproval;
  const body: MessageSendBody = {
    template_id: TODO_TEMPLATE,
    user_id: recipientOf(task),
    uuid,
    approval_name: '@i18n@name',
    ...(instance.user_id ? { title_user_id: instance.user_id, title_user_id_type: 'user_id' as const } : {}),
    content: {
      ...(instance.user_id
        ? { user_id: instance.user_id, user_id_type: 'user_id' as const }
        : instance.user_name
          ? { user_name: '@i18n@applicant' }
          : {}),
      summaries: (summaryKeys.length > 0 ? summaryKeys : ['@i18n@s1']).map((summary) => ({ summary })),
    },
    ...(note ? { note: '@i18n@note' } : {}),
    actions: [{ action_name: 'DETAIL', url: pc, pc_url: pc, android_url: mobile, ios_url: mobile }],
    ...(quick
      ? {
          action_configs: quick.actions.map((a) => ({
            action_type: a.type,
            is_need_reason: a.reason !== 'none',
            is_reason_required: a.reason === 'required',
          })),
        }
      : {}),
    i18n_resources: i18n,
  };
  return body;
}

/** The action_context of a card: enough to resolve it even without the send ledger (§5.4), ≤ ~200 chars. */
export function cardContext(instanceId: string, taskId: string, version: number): string {
  const full = JSON.stringify({ i: instanceId, t: taskId, v: version });
  return full.length <= 200 ? full : JSON.stringify({ v: version });
}

/** The card status a task's end gives (feishu-beyond-instances.md §4.10 table). */
export function closingStatus(instance: ExternalInstance | null, task: ExternalTask | undefined): CardStatus {
  if (!instance || instance.status === 'DELETED') return 'DELETED';
  if (instance.status === 'CANCELED') return 'CANCELLED';
  if (!task) return 'DELETED';
  switch (task.status) {
    case 'APPROVED':
      return 'APPROVED';
    case 'REJECTED':
      return 'REJECTED';
    case 'TRANSFERRED':
      return 'FORWARDED';
    default:
      return 'PROCESSED';
  }
}

/** The message/update body closing a card with `status`; CUSTOM carries a text (e.g. a refusal). */
export function cardUpdate(messageId: string, status: CardStatus, customText?: string): MessageUpdateBody {
  if (status !== 'CUSTOM')
    return {
      message_id: messageId,
      status,
      i18n_resources: [{ locale: 'zh-CN', is_default: true, texts: { '@i18n@status': status } }],
    };
  return {
    message_id: messageId,
    status,
    status_name: '@i18n@status',
    detail_action_name: '@i18n@detail',
    i18n_resources: [
      {
        locale: 'zh-CN',
        is_default: true,
        texts: { '@i18n@status': customText ?? '已处理', '@i18n@detail': '查看详情' },
      },
    ],
  };
}
