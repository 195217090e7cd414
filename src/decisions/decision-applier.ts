// Applies the decisions of the inbox, one at a time in the order they were received, through the
// mapping's write-back (write-back.ts). It never pushes to Feishu: the legacy change flows back
// through the replication stream like any other, and the pushed task status closes the card.
// Invariants: a decision is applied at most once (the write-back's ledger) and its inbox row is
// finished only after the legacy outcome is durable; a failure parks it with the reason (transient
// ones after a few retries), never drops it; a refusal by the legacy system closes the card with the
// reason so the approver is not left with live buttons.
import type { Kysely } from 'kysely';
import type { MappingSet } from '../mapping/contract.js';
import type { Logger } from '../core/logger.js';
import { WorkerLoop } from '../core/worker-loop.js';
import { LogThrottle, errorKind } from '../core/log-throttle.js';
import { backoffMs, failureOf, type RetryPolicy } from '../sync/retry-policy.js';
import type { MessageStore } from '../notify/message-store.js';
import { DecisionStore, type Decision } from './decision-store.js';
import type { WriteBack } from './write-back.js';
import type { StateDb } from '../replica/state-schema.js';

export interface DecisionApplierOptions {
  db: Kysely<StateDb>;
  schema: string;
  mappings: MappingSet;
  writeBack: WriteBack;
  messages: MessageStore;
  logger: Logger;
  retry: RetryPolicy;
  /** Transient failures of one decision before it is parked. */
  maxAttempts: number;
  pollIntervalMs?: number;
  onCardClose?: () => void;
  onOutcome?: (state: 'applied' | 'refused' | 'retry' | 'parked') => void;
}

export class DecisionApplier {
  readonly store: DecisionStore;
  private readonly worker = new WorkerLoop();
  /** Write-back failures log the first of a kind, then a count per minute. */
  private readonly failureLog: LogThrottle;

  constructor(private readonly o: DecisionApplierOptions) {
    this.store = new DecisionStore(o.db, o.schema);
    this.failureLog = new LogThrottle(o.logger);
  }

  start(): void {
    this.worker.start(
      () => this.round(),
      (error) => this.failureLog.error(errorKind(error), { err: error }, 'decision applier failed; retrying'),
    );
  }

  wake(): void {
    this.worker.wake();
  }

  async stop(): Promise<void> {
    await this.worker.stop();
    this.failureLog.flush();
  }

  private async round(): Promise<void> {
    const [d] = await this.store.due(1, []);
    if (!d) {
      await this.worker.idle(this.o.pollIntervalMs ?? 500);
      return;
    }
    await this.applyOne(d);
  }

  private async applyOne(d: Decision): Promise<void> {
    const log = { decision: d.id, instance: d.instanceId, task: d.taskId, action: d.actionType };
    const quick = this.o.mappings.loopOf?.(d.mapping)?.quickApproval;
    if (!quick) {
      await this.store.park(d.id, `mapping ${d.mapping} no longer declares quick_approval`);
      this.o.onOutcome?.('parked');
      return;
    }
    const params = {
      ...(this.o.mappings.taskKeyOf?.(d.mapping, d.taskId) ?? {}),
      decision: d.actionType,
      comment: d.reason,
      operator: d.operatorUserId,
      operator_user_id: d.operatorUserId,
      instance_id: d.instanceId,
      task_id: d.taskId,
      decision_id: d.id,
    };
    try {
      const outcome = await this.o.writeBack.apply(d.dedupeKey, d.id, quick, params);
      if (outcome.kind === 'refused') {
        await this.store.finish(d.id, 'refused', outcome.detail);
        await this.closeCard(d, `未能在业务系统中处理：${outcome.detail}`);
        this.o.logger.warn(log, `decision refused by the legacy system: ${outcome.detail}`);
        this.o.onOutcome?.('refused');
        return;
      }
      await this.store.finish(d.id, 'applied', outcome.detail);
      this.o.logger.info(
        log,
        `decision ${outcome.kind === 'already' ? 'was already applied' : 'applied'}: ${outcome.detail}`,
      );
      this.o.onOutcome?.('applied');
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const attempt = d.attempts + 1;
      // The one retry table decides (retry-policy.ts): a write-back failing for now is retried.
      if (failureOf(error).disposition === 'retry' && attempt < this.o.maxAttempts) {
        const delayMs = backoffMs(attempt, this.o.retry, Math.random());
        this.failureLog.warn(
          { code: 'WRITE_BACK', reason },
          { ...log, delayMs },
          `write-back failed, will retry: ${reason}`,
        );
        await this.store.markRetry(d.id, delayMs, reason);
        this.o.onOutcome?.('retry');
        return;
      }
      this.failureLog.error({ code: 'WRITE_BACK', reason }, log, `decision parked: ${reason}`);
      await this.store.park(d.id, reason);
      this.o.onOutcome?.('parked');
    }
  }

  private async closeCard(d: Decision, text: string): Promise<void> {
    const card = d.messageId ? await this.o.messages.byMessageId(d.messageId) : undefined;
    if (!card) return;
    await this.o.messages.requestClose(card.id, 'CUSTOM', text.slice(0, 200));
    this.o.onCardClose?.();
  }
}
