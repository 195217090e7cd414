// Sends and closes approval bot cards. plan() runs inside the sync stage's push, after Feishu accepted
// the instance and before the push is recorded as synced, so a card is planned only for a task
// Feishu already shows, and a crash in between re-plans it (the plan is idempotent). The loop then
// sends what is planned, with its own rate budget (the bot API has its own limits, §8.1), retries
// with backoff, and parks what cannot be sent.
// Invariants: one call in flight per card; a card is sent before it is closed; the callback secret
// is added at send time and never stored.
import type { Kysely } from 'kysely';
import {
  actionUrlsComplete,
  type MessageSendBody,
  type MessageUpdateBody,
} from '../feishu/bot-message-schema.js';
import type { ExternalInstance } from '../feishu/external-instance.js';
import type { MappingSet } from '../mapping/contract.js';
import type { Logger } from '../core/logger.js';
import { WorkerLoop, settleWithin } from '../core/worker-loop.js';
import { LogThrottle, errorKind } from '../core/log-throttle.js';
import type { RateBudget } from '../sync/rate-budget.js';
import { failureOf, nextStep, type RetryPolicy } from '../sync/retry-policy.js';
import { planCards } from './card-plan.js';
import { MessageStore, type CardRow } from './message-store.js';
import { cardContext, cardUpdate } from './todo-card.js';
import type { StateDb } from '../replica/state-schema.js';

export interface CallbackTarget {
  url: string;
  token: string;
  encryptKey?: string;
}

export interface NotifierOptions {
  db: Kysely<StateDb>;
  schema: string;
  mappings: MappingSet;
  send: (body: MessageSendBody) => Promise<{ messageId: string }>;
  update: (body: MessageUpdateBody) => Promise<void>;
  budget: RateBudget;
  retry: RetryPolicy;
  logger: Logger;
  /** Where cards' buttons call back; without it cards carry no buttons. */
  callback: CallbackTarget | null;
  concurrency?: number;
  pollIntervalMs?: number;
  onOutcome?: (kind: 'sent' | 'closed' | 'retry' | 'parked') => void;
}

export class Notifier {
  readonly store: MessageStore;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly worker = new WorkerLoop();
  private readonly abort = new AbortController();
  /** Card failures log the first of a kind, then a count per minute. */
  private readonly failureLog: LogThrottle;

  constructor(private readonly o: NotifierOptions) {
    this.store = new MessageStore(o.db, o.schema);
    this.failureLog = new LogThrottle(o.logger);
  }

  /** Records the cards one accepted push calls for (the sync stage awaits it before markSynced). */
  async plan(mapping: string, payload: ExternalInstance, live: boolean): Promise<void> {
    const loop = this.o.mappings.loopOf?.(mapping);
    if (!loop || (loop.notify === null && loop.quickApproval === null)) return;
    const { open, lastVersion } = await this.store.openCards(payload.instance_id);
    const plan = planCards(payload, loop, open, lastVersion, live);
    if (plan.send.length === 0 && plan.close.length === 0) return;
    await this.store.apply(mapping, payload.instance_id, plan);
    this.wake();
  }

  start(): void {
    this.worker.start(
      () => this.round(),
      (error) => this.failureLog.error(errorKind(error), { err: error }, 'notifier loop failed; retrying'),
    );
  }

  wake(): void {
    this.worker.wake();
  }

  async stop(graceMs = 10_000): Promise<void> {
    this.abort.abort();
    await this.worker.stop();
    await settleWithin(this.inFlight.values(), graceMs);
    this.failureLog.flush();
  }

  private async round(): Promise<void> {
    const poll = this.o.pollIntervalMs ?? 250;
    const concurrency = this.o.concurrency ?? 4;
    if (this.inFlight.size >= concurrency) {
      await Promise.race([...this.inFlight.values(), this.worker.idle(poll)]);
      return;
    }
    const [row] = await this.store.due(1, [...this.inFlight.keys()]);
    if (!row) {
      await this.worker.idle(poll);
      return;
    }
    const ticket = await this.o.budget.acquire(this.abort.signal);
    const task = this.handle(row)
      .finally(() => {
        ticket.release();
        this.inFlight.delete(row.id);
        this.wake();
      })
      .catch(() => undefined);
    this.inFlight.set(row.id, task);
  }

  private async handle(row: CardRow): Promise<void> {
    const log = { instance: row.instanceId, task: row.taskId, card: row.id };
    try {
      if (row.state === 'to_send') {
        const body = this.withCallback(row);
        if (!actionUrlsComplete(body)) {
          await this.store.park(
            row.id,
            'the task links are not http(s) URLs: Feishu refuses the card (60001)',
          );
          this.o.onOutcome?.('parked');
          return;
        }
        const { messageId } = await this.o.send(body);
        await this.store.markSent(row.id, messageId);
        this.o.logger.info({ ...log, messageId }, 'approval bot card sent');
        this.o.onOutcome?.('sent');
      } else if (row.messageId && row.closeStatus) {
        await this.o.update(cardUpdate(row.messageId, row.closeStatus, row.closeText ?? undefined));
        await this.store.markClosed(row.id, row.closeStatus);
        this.o.logger.info({ ...log, status: row.closeStatus }, 'approval bot card closed');
        this.o.onOutcome?.('closed');
      }
    } catch (error) {
      const step = nextStep(error, row.attempts + 1, this.o.retry, Math.random());
      if (step.action === 'retry') {
        this.failureLog.warn(
          { code: failureOf(error).code, reason: step.reason },
          { ...log, delayMs: step.delayMs },
          `bot message failed, will retry: ${step.reason}`,
        );
        await this.store.markRetry(row.id, step.delayMs, step.reason);
        this.o.onOutcome?.('retry');
      } else {
        this.failureLog.error(
          { code: failureOf(error).code, reason: step.reason },
          log,
          `bot message parked: ${step.reason}`,
        );
        await this.store.park(row.id, step.reason);
        this.o.onOutcome?.('parked');
      }
    }
  }

  private withCallback(row: CardRow): MessageSendBody {
    const cb = this.o.callback;
    const quick = this.o.mappings.loopOf?.(row.mapping)?.quickApproval;
    if (!cb || !quick) {
      const { action_configs: _dropped, ...rest } = row.body;
      return rest;
    }
    return {
      ...row.body,
      action_callback: {
        action_callback_url: cb.url,
        action_callback_token: cb.token,
        ...(cb.encryptKey ? { action_callback_key: cb.encryptKey } : {}),
        action_context: cardContext(row.instanceId, row.taskId, row.version),
      },
    };
  }
}
