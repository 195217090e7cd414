// Decides which instance is pushed when. Invariants:
// - order per instance (DESIGN 2): at most one push per instance in flight; every push carries the
//   instance's latest replica state, read after its version; the update_time sent for an instance
//   strictly increases across accepted pushes, whatever the legacy timestamps do, and the first
//   push from this state database exceeds what Feishu already holds (another state database's);
// - nothing vanishes (DESIGN 3): a dirty instance is due, in flight, waiting for a retry, or parked
//   with its reason; nothing is marked synced that Feishu did not accept;
// - live before backfill: due instances are taken by lane, then by how long they have waited, and
//   the lanes below live leave one push slot (and a share of the budget, backfill-pace.ts) free;
// - the budget is spent only on payloads that passed the mapping and the limit checks, and that
//   differ from the last payload Feishu accepted for the instance (update_time aside).
import type { Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import { CdcError, describeError } from '../errors.js';
import type { ExternalInstance, UpdateMode } from '../feishu/external-instance.js';
import type { MappingSet } from '../mapping/contract.js';
import type { Logger } from '../core/logger.js';
import { WorkerLoop, settleWithin } from '../core/worker-loop.js';
import { LogThrottle, errorKind } from '../core/log-throttle.js';
import { LANE_LIVE } from '../replica/instance-vocabulary.js';
import { loadInstanceRows, type BeforeVirtualRead } from '../replica/row-loader.js';
import { InstanceTable, type DirtyInstance } from '../replica/instance-table.js';
import { monthBounds, monthKey } from './monthly-calls.js';
import { BackfillPace } from './backfill-pace.js';
import { CircuitBreaker, isOutage } from './circuit-breaker.js';
import type { FeishuFloor } from './feishu-floor.js';
import { PushGate } from './push-gate.js';
import { payloadDigest } from './payload-digest.js';
import type { BudgetTicket, RateBudget } from './rate-budget.js';
import { failureOf, nextStep, type RetryPolicy } from './retry-policy.js';

export type PushFn = (payload: ExternalInstance) => Promise<void>;

export interface PushOutcome {
  instance: DirtyInstance;
  /** 'unchanged': the payload equals the last one Feishu accepted; synced without a push. */
  result: 'accepted' | 'retry' | 'parked' | 'stopped' | 'absent' | 'unchanged';
  code: string;
  /** Why it failed (retry, parked, stopped). */
  message?: string;
  /** The update_time Feishu accepted. */
  updateTime?: bigint;
  /** Seconds from the oldest unsynced source commit to Feishu's acceptance. */
  commitToAcceptSeconds?: number;
}

export interface SyncSchedulerOptions {
  db: Kysely<StateDb>;
  schema: string;
  mappings: MappingSet;
  push: PushFn;
  budget: RateBudget;
  concurrency: number;
  minPushIntervalMs: number;
  retry: RetryPolicy;
  logger: Logger;
  checkLimits?: (payload: ExternalInstance) => string[];
  random?: () => number;
  onOutcome?: (outcome: PushOutcome) => void;
  /**
   * Runs after Feishu accepted a push and before it is recorded as synced (the notify stage plans
   * the bot cards of the tasks the push made visible). A failure counts as a failed push: the
   * instance is pushed again, which is harmless, and the hook runs again.
   */
  afterAccepted?: (instance: DirtyInstance, payload: ExternalInstance) => Promise<void>;
  onStop?: (reason: string) => void;
  /** Whether pushing is allowed (default: a gate of its own with default probe timing). */
  gate?: PushGate;
  pollIntervalMs?: number;
  /** While the monthly quota is spent: one probe push this often (default 1 h). */
  quotaProbeIntervalMs?: number;
  /** Runs before the virtual-table rows of a build are read (resolves user identities). */
  beforeVirtual?: BeforeVirtualRead;
  /** Backfill pushes per window at most, spread evenly (default: unpaced). */
  backfillPerMinute?: number;
  /** The budget's long window (default 60 s). */
  windowMs?: number;
  /** Holds pushing while Feishu fails everything (default: opens after 5 outage failures, probes every 5 s). */
  breaker?: CircuitBreaker;
  onBreaker?: (open: boolean) => void;
  /** Learns what Feishu holds before an instance's first push from this state database. */
  floor?: FeishuFloor;
}

export class SyncScheduler {
  readonly store: InstanceTable;
  /** Pushes in flight by instance id, with the external id operators (and tests) know them by. */
  private readonly inFlight = new Map<string, { task: Promise<void>; externalId: string }>();
  /** Pushes in flight from the lanes below live (at most concurrency - 1 of them). */
  private lowerInFlight = 0;
  private readonly worker = new WorkerLoop();
  private readonly abort = new AbortController();
  private readonly backfillPace: BackfillPace;
  private readonly breaker: CircuitBreaker;
  /** Codes of the outage failures since the breaker last closed: their backoff ends when it closes. */
  private readonly outageCodes = new Set<string>();
  readonly gate: PushGate;
  /** Retries and parkings log the first of a kind, then a count per minute (150 parked: not 150 lines). */
  private readonly failureLog: LogThrottle;

  constructor(private readonly o: SyncSchedulerOptions) {
    this.failureLog = new LogThrottle(o.logger);
    this.store = new InstanceTable(o.db, o.schema);
    this.gate = o.gate ?? new PushGate();
    this.backfillPace = new BackfillPace(o.backfillPerMinute ?? Number.POSITIVE_INFINITY, o.windowMs);
    this.breaker = o.breaker ?? new CircuitBreaker({ failures: 5, probeIntervalMs: 5000 });
  }

  /** Why pushing is stopped (credentials, scope, ...), or null while it runs. */
  get stoppedReason(): string | null {
    return this.gate.stoppedReason;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** External ids of the instances being pushed right now. */
  get inFlightExternalIds(): string[] {
    return [...this.inFlight.values()].map((f) => f.externalId);
  }

  private get inFlightTasks(): Promise<void>[] {
    return [...this.inFlight.values()].map((f) => f.task);
  }

  start(): void {
    this.worker.start(
      () => this.round(),
      (error) => this.failureLog.error(errorKind(error), { err: error }, 'sync loop failed; retrying'),
    );
  }

  /** New changes are in the replica: look for due instances now (or as soon as the loop idles). */
  wake(): void {
    this.worker.wake();
  }

  /**
   * Stops taking new work and waits for pushes in flight, at most `graceMs` (the request timeout:
   * a push cannot take longer, so waiting longer only delays the stop). Returns as soon as they are
   * done; the grace timer is cleared so it never holds the process open.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.abort.abort();
    await this.worker.stop();
    try {
      await settleWithin(this.inFlightTasks, graceMs);
    } finally {
      this.failureLog.flush();
    }
  }

  private async round(): Promise<void> {
    const poll = this.o.pollIntervalMs ?? 200;
    const untilProbe = this.gate.msUntilProbe();
    if (untilProbe > 0) {
      await this.worker.idle(Math.min(untilProbe, poll * 5));
      return;
    }
    if (this.inFlight.size >= this.o.concurrency) {
      await Promise.race([...this.inFlightTasks, this.worker.idle(poll)]);
      return;
    }
    // Feishu fails everything: only the breaker's probe goes out, so the outage costs no budget.
    const hold = this.breaker.delay();
    if (hold > 0) {
      await this.worker.idle(hold);
      return;
    }
    // Budget first, then the instance: whoever is most urgent when a unit frees up gets it, so
    // a live change never queues behind backfill pushes that grabbed units earlier.
    const ticket = await this.o.budget.acquire(this.abort.signal);
    // One push slot stays free for live changes: with Feishu slow, the bulk and backfill lanes
    // would otherwise fill every slot and a live change would wait for one of their answers. With
    // only that slot left, only the live lane is asked for: claiming a bulk instance just to drop
    // it cost a scan of the whole backlog per replica batch (docs/benchmarks.md).
    const liveOnly = this.o.concurrency > 1 && this.lowerInFlight >= this.o.concurrency - 1;
    const [instance] = await this.store.dueInstances(1, [...this.inFlight.keys()], liveOnly);
    if (!instance) {
      ticket.cancel();
      await this.worker.idle(poll);
      return;
    }
    let untake = () => {};
    const lower = instance.lane !== LANE_LIVE;
    if (lower) {
      const wait = this.backfillPace.delay(Date.now());
      if (wait > 0) {
        // The backfill spends the minute budget evenly, so the window never runs dry and a live
        // change finds a unit within a moment; a live change wakes this idle at once.
        ticket.cancel();
        await this.worker.idle(wait);
        return;
      }
      untake = this.backfillPace.take(Date.now());
    }
    // While stopped, the gate lets one push through as a probe once it is due.
    const admission = this.gate.admit();
    if (admission === 'wait') {
      ticket.cancel();
      untake();
      await this.worker.idle(poll);
      return;
    }
    // The gate's probe (a definitive stop) or the breaker's (an outage): one push at a time.
    const breakerProbe = this.breaker.start();
    if (lower) this.lowerInFlight++;
    const task = this.pushOne(instance, ticket, untake, admission === 'probe', breakerProbe).finally(() => {
      this.inFlight.delete(instance.id);
      if (lower) this.lowerInFlight--;
      this.wake();
    });
    this.inFlight.set(instance.id, { task, externalId: instance.externalId });
  }

  private async pushOne(
    instance: DirtyInstance,
    ticket: BudgetTicket,
    untake: () => void,
    probe: boolean,
    breakerProbe: boolean,
  ): Promise<void> {
    const { mappings } = this.o;
    let updateTime = 0n;
    let pushed = false;
    try {
      const rows = await loadInstanceRows(
        this.o.db,
        this.o.schema,
        mappings,
        instance.ref,
        this.o.beforeVirtual,
      );
      // The replica applied part of a source transaction since the claim: these rows may be half
      // of it. Left dirty, the instance comes back once the commit is applied.
      if (!(await this.store.isPushable(instance.id, instance.version))) return;
      const built = mappings.build(instance.ref, rows);
      if (built.kind === 'absent') {
        await this.store.markSynced(instance.id, instance.version, instance.lastUpdateTime, 0, null);
        this.o.onOutcome?.({ instance, result: 'absent', code: 'absent' });
        return;
      }
      if (built.kind === 'unmappable') {
        // A deletion whose row the replica never held whole (a copy resumed after the row was gone):
        // no DELETED payload can be built, and none is needed when Feishu never held the instance.
        if (built.deletedRow && this.o.floor && !(await this.o.floor.holds(instance))) {
          await this.store.markSynced(instance.id, instance.version, instance.lastUpdateTime, 0, null);
          this.o.onOutcome?.({ instance, result: 'absent', code: 'absent' });
          return;
        }
        throw new CdcError('MAPPING_UNMAPPABLE', built.reason);
      }
      const digest = payloadDigest(built.payload, built.updateMode);
      if (digest === instance.acceptedDigest) {
        // Feishu shows exactly this already (a rewrite that changed no value it displays).
        await this.store.markUnchanged(instance.id, instance.version);
        this.o.onOutcome?.({ instance, result: 'unchanged', code: 'unchanged' });
        return;
      }
      // A first push from this state database must not go below what Feishu holds (feishu-floor.ts).
      const floor = this.o.floor ? await this.o.floor.floorOf(instance) : instance.lastUpdateTime;
      const payload = withMonotonicUpdateTime(built.payload, built.updateMode, floor);
      updateTime = BigInt(payload.update_time);
      const violations = this.o.checkLimits?.(payload) ?? [];
      if (violations.length > 0) {
        throw new CdcError('PAYLOAD_LIMIT', violations.join('; '));
      }
      pushed = true;
      try {
        await this.o.push(payload);
      } catch (error) {
        this.noteFailure(error);
        throw error;
      } finally {
        ticket.release();
      }
      // Any accepted push proves pushing works again: a stopped gate runs again by itself.
      this.gate.accepted();
      this.noteAnswered();
      await this.o.afterAccepted?.(instance, payload);
      await this.store.markSynced(
        instance.id,
        instance.version,
        updateTime,
        this.o.minPushIntervalMs,
        digest,
      );
      const outcome: PushOutcome = { instance, result: 'accepted', code: '0', updateTime };
      if (instance.firstCommitAt)
        outcome.commitToAcceptSeconds = Math.max(0, (Date.now() - instance.firstCommitAt.getTime()) / 1000);
      this.o.onOutcome?.(outcome);
    } catch (error) {
      await this.handleFailure(instance, error).catch((e: unknown) =>
        this.failureLog.error(
          errorKind(e),
          { err: e, instance: instance.externalId },
          'cannot record push failure',
        ),
      );
    } finally {
      // Nothing was sent (absent, unchanged, parked before sending, or a failure before the call):
      // the unit goes back to the budget, and the start back to the backfill pace.
      if (!pushed) {
        ticket.cancel();
        untake();
        this.breaker.unsent(breakerProbe);
      }
      if (probe) this.gate.probeEnded();
    }
  }

  /** Feishu answered a push (whatever it said about the payload): it is up. */
  private noteAnswered(): void {
    if (!this.breaker.answered()) return;
    this.o.logger.warn('Feishu answers again: circuit breaker closed, pushing at full budget');
    this.o.onBreaker?.(false);
    const codes = [...this.outageCodes];
    this.outageCodes.clear();
    // What failed during the outage is due now, not after the backoff it earned meanwhile.
    void this.store
      .clearBackoff(codes)
      .then(() => this.wake())
      .catch((e: unknown) => this.o.logger.error({ err: e }, 'cannot clear outage backoff'));
  }

  private noteFailure(error: unknown): void {
    if (!isOutage(error)) {
      this.noteAnswered();
      return;
    }
    this.outageCodes.add(failureOf(error).code);
    if (this.breaker.outage()) {
      this.o.logger.error(
        `Feishu fails every push (${describeError(error)}): circuit breaker open, probing at a low fixed rate`,
      );
      this.o.onBreaker?.(true);
    }
  }

  private async handleFailure(instance: DirtyInstance, error: unknown): Promise<void> {
    const attempt = instance.attempts + 1;
    const failure = failureOf(error);
    let step = nextStep(error, attempt, this.o.retry, (this.o.random ?? Math.random)());
    // Held by the open breaker, the instance is not at fault: due again as soon as Feishu answers.
    if (step.action === 'retry' && this.breaker.open && isOutage(error)) step = { ...step, delayMs: 0 };
    if (failure.retryAfterMs !== null && failure.retryAfterMs > 0) this.o.budget.pause(failure.retryAfterMs);
    const log = { instance: instance.externalId, attempt, code: failure.code };
    switch (step.action) {
      case 'retry':
        this.failureLog.warn(
          { code: failure.code, reason: step.reason },
          { ...log, delayMs: step.delayMs },
          `push failed, will retry: ${step.reason}`,
        );
        await this.store.markRetry(instance.id, step.delayMs, step.reason, failure.code);
        this.o.onOutcome?.({ instance, result: 'retry', code: failure.code, message: step.reason });
        return;
      case 'park':
        this.failureLog.error(
          { code: failure.code, reason: step.reason },
          log,
          `instance parked: ${step.reason}`,
        );
        await this.store.park(instance.id, step.reason, failure.code);
        this.o.onOutcome?.({ instance, result: 'parked', code: failure.code, message: step.reason });
        return;
      case 'stop':
        if (this.gate.running) this.o.logger.fatal(log, `pushing stopped: ${step.reason}`);
        else this.o.logger.error(log, `pushing still stopped: ${step.reason}`);
        this.gate.stop(step.reason, failure.code);
        // The instance stays due: it is the probe that finds out when pushing works again.
        await this.store.markRetry(instance.id, 0, step.reason, failure.code);
        this.o.onOutcome?.({ instance, result: 'stopped', code: failure.code, message: step.reason });
        this.o.onStop?.(step.reason);
        return;
      case 'pause': {
        // Not a rate limit: nothing succeeds before the quota renews, so no retry loop; one probe
        // push now and then finds out when it did (feishu-beyond-instances.md §3.3).
        const probeMs = this.o.quotaProbeIntervalMs ?? 3_600_000;
        const reason = quotaPauseReason(step.reason, Date.now(), probeMs);
        if (this.gate.running) this.o.logger.fatal(log, `pushing paused: ${reason}`);
        else this.o.logger.warn(log, `pushing still paused: ${reason}`);
        this.gate.stop(reason, failure.code, { probeAt: new Date(Date.now() + probeMs) });
        await this.store.markRetry(instance.id, 0, reason, failure.code);
        this.o.onOutcome?.({ instance, result: 'stopped', code: failure.code, message: reason });
        return;
      }
    }
  }
}

/** What status and /readyz say while the monthly quota pauses pushing: why and until when. */
export function quotaPauseReason(reason: string, now: number, probeMs: number): string {
  const renewal = monthKey(monthBounds(now).renewal) + '-01';
  return `${reason}; pushing paused until the quota renews (${renewal}, China time) or \`approval-cdc resume\`; one probe push every ${Math.round(probeMs / 60_000)} min`;
}

/** The payload with update_time raised above the last accepted one, and the mapping's update mode. */
export function withMonotonicUpdateTime(
  payload: ExternalInstance,
  mode: UpdateMode,
  lastAccepted: bigint,
): ExternalInstance {
  let mapped: bigint;
  try {
    mapped = BigInt(payload.update_time);
  } catch {
    throw new CdcError(
      'MAPPING_UNMAPPABLE',
      `update_time is not epoch milliseconds: ${describeError(payload.update_time)}`,
    );
  }
  const updateTime = mapped > lastAccepted ? mapped : lastAccepted + 1n;
  return { ...payload, update_time: updateTime.toString(), update_mode: mode };
}
