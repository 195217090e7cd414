// Turns one verified callback into a decision in the inbox, or a refusal, and the answer Feishu shows
// the approver. The only work before the answer is: resolve the task, read its current state from
// the replica, one insert (feishu-beyond-instances.md §5.3, §5.6).
// Invariants: a decision is only taken for a task of an instance the connector pushed, of a mapping
// with quick approval, that is PENDING for exactly this operator with an offered action; a repeated
// callback finds its decision by dedupe key and inserts nothing; a refusal is answered with HTTP 409
// and {message, without_prefix} (HTTP > 400 shows the message, feishu-api.md §4.4).
import type { Kysely } from 'kysely';
import type { CardStatus } from '../feishu/bot-message-schema.js';
import type { ExternalInstance } from '../feishu/external-instance.js';
import type { MappingSet } from '../mapping/contract.js';
import type { Logger } from '../core/logger.js';
import { InstanceTable } from '../replica/instance-table.js';
import { loadInstanceRows } from '../replica/row-loader.js';
import type { MessageStore } from '../notify/message-store.js';
import { closingStatus } from '../notify/todo-card.js';
import type { CallbackFields } from './callback-request.js';
import type { DecisionStore, NewDecision } from './decision-store.js';
import type { StateDb } from '../replica/state-schema.js';

export interface CallbackAnswer {
  status: number;
  body: Record<string, string | number>;
}

export interface IntakeOptions {
  db: Kysely<StateDb>;
  schema: string;
  mappings: MappingSet;
  decisions: DecisionStore;
  messages: MessageStore;
  logger: Logger;
  /** A new decision is in the inbox. */
  onReceived: () => void;
  /** A refused click came from a card that must not keep its buttons. */
  closeCard: (cardId: string, status: CardStatus, text: string | null) => Promise<void>;
}

export const OK_ANSWER: CallbackAnswer = { status: 200, body: { code: 0 } };

export function refusal(status: number, message: string): CallbackAnswer {
  return { status, body: { message, without_prefix: 'true' } };
}

interface Context {
  i?: unknown;
  t?: unknown;
  v?: unknown;
}

function contextOf(text: string | null): Context {
  if (!text) return {};
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

export class DecisionIntake {
  constructor(private readonly o: IntakeOptions) {}

  async take(f: CallbackFields): Promise<CallbackAnswer> {
    const { mappings, logger } = this.o;
    const ctx = contextOf(f.actionContext);
    const card = f.messageId ? await this.o.messages.byMessageId(f.messageId) : undefined;
    const instanceId = card?.instanceId ?? f.instanceId ?? (typeof ctx.i === 'string' ? ctx.i : null);
    const taskId = card?.taskId ?? f.taskId ?? f.searchId ?? (typeof ctx.t === 'string' ? ctx.t : null);
    const via = f.messageId ? 'card' : f.instanceId ? 'list' : 'search';
    if (!instanceId || !taskId) return refusal(404, '无法识别此审批任务 (unknown task)');
    if (
      (typeof ctx.i === 'string' && ctx.i !== instanceId) ||
      (typeof ctx.t === 'string' && ctx.t !== taskId)
    )
      return refusal(400, '回调内容不一致 (action_context does not match the task)');
    const ref = mappings.refOfExternalId?.(instanceId) ?? null;
    const mapping = card?.mapping ?? ref?.mapping;
    const quick = mapping ? mappings.loopOf?.(mapping)?.quickApproval : undefined;
    if (!ref || !mapping || !quick || !(await this.pushed(instanceId)))
      return refusal(404, '此审批任务不支持在飞书中处理 (not a task with quick approval)');

    const version = card?.version ?? (await this.o.messages.latestOf(instanceId, taskId))?.version ?? 0;
    const decision: NewDecision = {
      dedupeKey: `${instanceId}|${taskId}|${version}`,
      mapping,
      instanceId,
      taskId,
      messageId: f.messageId,
      via,
      actionType: f.actionType,
      reason: f.reason,
      operatorUserId: f.userId,
    };
    const earlier = await this.o.decisions.byKey(decision.dedupeKey);
    if (earlier) {
      logger.info({ decision: earlier.id, state: earlier.state }, 'repeated callback for a known decision');
      return earlier.state === 'refused' ? refusal(409, earlier.outcome ?? '已拒绝') : OK_ANSWER;
    }

    const payload = await this.current(ref);
    const task = payload?.task_list?.find((t) => t.task_id === taskId);
    let refused: string | null = null;
    let cardStatus: CardStatus | null = null;
    if (!payload || payload.status !== 'PENDING' || task?.status !== 'PENDING') {
      refused = `此审批任务已处理，无法再操作 (the task is ${task?.status ?? 'gone'})`;
      cardStatus = closingStatus(payload, task);
    } else if (task.user_id !== f.userId) {
      refused = '你不是此审批任务的审批人 (not the assignee)';
      // The card the click came from belongs to someone who no longer holds the task.
      if (card && card.userId !== task.user_id) cardStatus = 'FORWARDED';
    } else if (!quick.actions.some((a) => a.type === f.actionType)) {
      refused = `此操作不可用 (${f.actionType} is not offered)`;
    } else if (
      quick.actions.some((a) => a.type === f.actionType && a.reason === 'required') &&
      !f.reason?.trim()
    ) {
      refused = '请填写审批意见 (a reason is required)';
    }
    if (refused !== null) {
      // A refused click is kept for the record, under a key of its own so a later valid decision
      // on the same task is not mistaken for a repeat.
      await this.o.decisions.insert(
        { ...decision, dedupeKey: `${decision.dedupeKey}|refused|${f.userId}|${f.actionType}` },
        refused,
      );
      if (card && cardStatus) await this.o.closeCard(card.id, cardStatus, null);
      logger.info({ instance: instanceId, task: taskId, operator: f.userId }, `decision refused: ${refused}`);
      return refusal(409, refused);
    }
    await this.o.decisions.insert(decision);
    logger.info({ instance: instanceId, task: taskId, action: f.actionType, via }, 'decision received');
    this.o.onReceived();
    return OK_ANSWER;
  }

  /** Whether Feishu accepted a push of the instance (its accepted update_time is set). */
  private async pushed(instanceId: string): Promise<boolean> {
    const records = await new InstanceTable(this.o.db, this.o.schema).records({ externalId: instanceId });
    return records.some((r) => r.lastUpdateTime > 0n);
  }

  private async current(ref: { mapping: string; key: readonly string[] }): Promise<ExternalInstance | null> {
    const rows = await loadInstanceRows(this.o.db, this.o.schema, this.o.mappings, ref);
    const built = this.o.mappings.build(ref, rows);
    return built.kind === 'payload' ? built.payload : null;
  }
}
