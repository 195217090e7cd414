// Decides, from one accepted instance push, which bot cards to send and which to close. Pure.
// Invariants: a task has at most one open card, addressed to its current assignee; a card is opened
// only for a PENDING task of a PENDING instance with a user_id; every open card whose task is no
// longer pending for that recipient (ended, reassigned, gone, instance ended) is closed, so no stale
// buttons remain. Backfill pushes (initial load, resync) open no cards: the history a first start
// copies would otherwise notify every approver of every old task at once. A new pending episode of a task gets the next version, and so a new uuid.
import type { CardStatus, MessageSendBody } from '../feishu/bot-message-schema.js';
import type { ExternalInstance } from '../feishu/external-instance.js';
import type { LoopConfig } from '../mapping/loop-config.js';
import { buildTodoCard, cardUuid, closingStatus, recipientOf } from './todo-card.js';

export interface OpenCard {
  id: string;
  taskId: string;
  userId: string;
}

export interface CardPlan {
  send: { taskId: string; version: number; userId: string; uuid: string; body: MessageSendBody }[];
  close: { id: string; status: CardStatus }[];
}

export function planCards(
  instance: ExternalInstance,
  loop: LoopConfig,
  open: readonly OpenCard[],
  lastVersion: ReadonlyMap<string, number>,
  /** Open new cards (live changes); false for backfill pushes, which only close cards. */
  openNew = true,
): CardPlan {
  const plan: CardPlan = { send: [], close: [] };
  const live = instance.status === 'PENDING';
  const tasks = new Map((instance.task_list ?? []).map((t) => [t.task_id, t]));
  const stillOpen = new Set<string>();
  for (const card of open) {
    const task = tasks.get(card.taskId);
    if (live && task?.status === 'PENDING' && recipientOf(task) === card.userId) {
      stillOpen.add(card.taskId);
      continue;
    }
    const status: CardStatus =
      live && task?.status === 'PENDING' ? 'FORWARDED' : closingStatus(instance, task);
    plan.close.push({ id: card.id, status });
  }
  if (!live || loop.notify === null || !openNew) return plan;
  for (const task of instance.task_list ?? []) {
    const userId = recipientOf(task);
    if (task.status !== 'PENDING' || !userId || stillOpen.has(task.task_id)) continue;
    const version = (lastVersion.get(task.task_id) ?? 0) + 1;
    const uuid = cardUuid(instance.instance_id, task.task_id, version);
    plan.send.push({
      taskId: task.task_id,
      version,
      userId,
      uuid,
      body: buildTodoCard({ instance, task, loop, uuid }),
    });
  }
  return plan;
}
