// Starts the sync stage for `run`: the push history, the rate budget seeded from the ledger (and paced
// over the month when a monthly budget is set), the identity resolver, the bot-card loop, the push
// gate with its quota watch, and the scheduler that pushes dirty instances through all of them.
// Invariant: every push goes through the ledger (its call is recorded before it is made) and the
// budget, so a restart or a standby taking over starts with the calls Feishu still counts.
import type { Kysely } from 'kysely';
import type { Settings } from './config/settings.js';
import { CdcError } from './errors.js';
import type { FeishuClient } from './feishu/feishu-client.js';
import { payloadLimitViolations } from './feishu/payload-schema.js';
import type { MappingSet } from './mapping/contract.js';
import type { BackfillReporter } from './observe/backfill-reporter.js';
import { errorKind, type LogThrottle } from './core/log-throttle.js';
import type { Logger } from './core/logger.js';
import type { Metrics } from './observe/metrics.js';
import { InstanceTable } from './replica/instance-table.js';
import { laneName } from './replica/instance-vocabulary.js';
import type { StateDb } from './replica/state-schema.js';
import { CircuitBreaker } from './sync/circuit-breaker.js';
import { FeishuFloor } from './sync/feishu-floor.js';
import { IdentityResolver } from './sync/identity-resolver.js';
import { MonthlyCalls, PacedRateBudget } from './sync/monthly-calls.js';
import { QuotaWatch } from './sync/quota-watch.js';
import { RateBudget } from './sync/rate-budget.js';
import { RateLedger } from './sync/rate-ledger.js';
import { PushHistory } from './sync/push-history.js';
import { DEFAULT_RETRY_POLICY } from './sync/retry-policy.js';
import { SyncScheduler, type PushFn } from './sync/sync-scheduler.js';
import { PushGate, type PushGateState } from './sync/push-gate.js';
import { PushGateStore } from './sync/push-gate-store.js';
import { startLoopStage, type LoopStage } from './loop-stage.js';

export interface SyncStageOptions {
  settings: Settings;
  mappings: MappingSet;
  db: Kysely<StateDb>;
  logger: Logger;
  metrics: Metrics;
  /** Feishu, unless the caller pushes through `push` (tests, benches). */
  feishu: FeishuClient | null;
  push?: PushFn | undefined;
  /** Warnings that repeat while something stays broken, one line a minute. */
  errorLog: LogThrottle;
  backfill: BackfillReporter;
  /** Counts each Feishu call of the month from now on (called once the month's counter is loaded). */
  onCalls(count: () => void): void;
  onGateChange(state: PushGateState, store: PushGateStore): void;
}

export interface SyncStage {
  scheduler: SyncScheduler;
  budget: RateBudget;
  ledger: RateLedger;
  history: PushHistory;
  loopStage: LoopStage;
  quotaWatch: QuotaWatch;
  /** Whether pushes (and other counted calls) may go out: stopped, quota paused or running. */
  gate: PushGate;
}

export async function startSyncStage(o: SyncStageOptions): Promise<SyncStage> {
  const { settings: s, mappings, db, logger, metrics } = o;
  const history = new PushHistory(
    db,
    s.stateSchema,
    { perInstance: s.pushHistoryPerInstance, total: s.pushHistoryTotal },
    (error) => o.errorLog.warn(errorKind(error), { err: error }, 'cannot write the push history'),
  );

  const calls = new MonthlyCalls(db, s.stateSchema);
  await calls.load();
  o.onCalls(() => calls.add());
  const rates = { perSecond: s.ratePerSecond, perMinute: s.ratePerMinute, windowMs: s.rateWindowMs };
  // With a monthly budget the approval calls are spread over the month (status shows the projection).
  const budget =
    s.monthlyCallBudget > 0 ? new PacedRateBudget(rates, calls, s.monthlyCallBudget) : new RateBudget(rates);
  metrics.budgetLimit.set(s.ratePerMinute);
  // The calls of the previous process (or of the active one this standby replaces) still count at
  // Feishu: the budget starts with them, read from the ledger every process writes before a call.
  const ledger = new RateLedger({
    db,
    schema: s.stateSchema,
    app: s.feishuAppId ?? '',
    windowMs: s.rateWindowMs,
    timeoutMs: s.requestTimeoutMs,
    logger,
  });
  budget.seed(await ledger.recent());
  let push = o.push;
  const client = o.feishu;
  let identities: IdentityResolver | null = null;
  if (!push && client) {
    push = async (payload) => {
      await client.pushInstance(payload);
    };
    identities = new IdentityResolver({
      db,
      schema: s.stateSchema,
      api: client,
      budget: new RateBudget({ perSecond: s.identityPerSecond, perMinute: s.identityPerMinute }),
      refreshMs: s.identityRefreshMs,
      negativeRefreshMs: s.identityNegativeRefreshMs,
      onLookup: (e) => {
        metrics.identityLookups.inc({ result: 'found' }, e.found);
        metrics.identityLookups.inc({ result: 'not_found' }, e.inputs - e.found);
      },
    });
  }
  if (!push) throw new CdcError('INTERNAL', 'no Feishu client and no push function');
  const loopStage = await startLoopStage({
    settings: s,
    mappings,
    db,
    client: o.feishu,
    logger,
    metrics,
  });
  // The loop stage runs from here on: stopped again should anything below fail.
  let scheduler: SyncScheduler;
  let gate: PushGate;
  let quotaWatch: QuotaWatch;
  try {
    const send = push;
    const ledgered: PushFn = async (payload) => {
      const ended = await ledger.begin();
      try {
        await send(payload);
      } finally {
        ended();
      }
    };
    const gateStore = new PushGateStore(db, s.stateSchema, s.slotName);
    gate = new PushGate({
      probeIntervalMs: s.stopProbeIntervalMs,
      onChange: (state) => o.onGateChange(state, gateStore),
    });
    o.onGateChange(gate.state, gateStore);
    quotaWatch = new QuotaWatch({
      db,
      schema: s.stateSchema,
      slot: s.slotName,
      calls,
      gate,
      logger,
      onFigures: ({ used, projected }) => {
        metrics.callsThisMonth.set(used);
        metrics.callsProjected.set(projected);
      },
    });
    scheduler = new SyncScheduler({
      gate,
      quotaProbeIntervalMs: s.quotaProbeIntervalMs,
      db,
      schema: s.stateSchema,
      mappings,
      push: ledgered,
      budget,
      windowMs: s.rateWindowMs,
      breaker: new CircuitBreaker({ failures: s.breakerFailures, probeIntervalMs: s.breakerProbeIntervalMs }),
      onBreaker: (open) => metrics.breakerOpen.set(open ? 1 : 0),
      concurrency: s.syncConcurrency,
      minPushIntervalMs: s.minPushIntervalMs,
      backfillPerMinute: s.ratePerMinute,
      retry: DEFAULT_RETRY_POLICY,
      logger,
      checkLimits: (p) => payloadLimitViolations(p),
      ...(client
        ? {
            floor: new FeishuFloor({
              store: new InstanceTable(db, s.stateSchema),
              check: (instances) => client.checkInstances(instances),
            }),
          }
        : {}),
      afterAccepted: (instance, payload) => loopStage.afterAccepted(instance, payload),
      ...(identities ? { beforeVirtual: (queries) => identities.ensure(queries) } : {}),
      onOutcome: (outcome) => {
        if (outcome.result === 'unchanged') metrics.unchangedPayloads.inc();
        else metrics.pushes.inc({ result: outcome.result, code: outcome.code });
        o.backfill.noteOutcome(outcome.instance.lane, outcome.result);
        history.record({
          instanceId: outcome.instance.id,
          externalId: outcome.instance.externalId,
          version: outcome.instance.version,
          lane: outcome.instance.lane,
          result: outcome.result,
          code: outcome.code,
          message: outcome.message ?? null,
          updateTime: outcome.updateTime ?? null,
          at: new Date(),
        });
        metrics.budgetUsed.set(budget.usedLastMinute());
        if (outcome.commitToAcceptSeconds !== undefined) {
          metrics.commitToAccept.observe(
            { lane: laneName(outcome.instance.lane) },
            outcome.commitToAcceptSeconds,
          );
        }
      },
    });
  } catch (error) {
    await loopStage.stop();
    throw error;
  }
  // Started last, once nothing can fail any more: a failed start leaves no timer behind.
  history.start();
  quotaWatch.start();
  scheduler.start();
  return { scheduler, budget, ledger, history, loopStage, quotaWatch, gate };
}
