// The composition root: wires source -> replica -> sync -> feishu, and observe around them; `setup`
// starts the replica through the same startReplica (start-replica.ts) as `run`; the sync stage's
// parts are put together by startSyncStage (start-sync.ts), the stream's by createStream
// (start-stream.ts), the HTTP server's by startHttp (start-http.ts).
// Invariants it owns: the state schema is migrated and the active lock held before anything streams
// or pushes; a mapping that fails to load stops start-up before any connection to the source; on
// stop, the stream stops first (no new changes), then pushes in flight finish, then connections close.
import type { Server } from 'node:http';
import type { Settings } from './config/settings.js';
import { CdcError, describeError, isCdcError } from './errors.js';
import { FeishuClient } from './feishu/feishu-client.js';
import type { MappingSet } from './mapping/contract.js';
import type { TableProgressReport } from './observe/copy-progress.js';
import { CopyReporter } from './observe/copy-reporter.js';
import { LagProbe } from './observe/lag-probe.js';
import { BackfillReporter } from './observe/backfill-reporter.js';
import { LogThrottle } from './core/log-throttle.js';
import type { Logger } from './core/logger.js';
import { createMetrics, initTableSeries, type Metrics } from './observe/metrics.js';
import { SampleRing } from './observe/sample-ring.js';
import { CheckpointStore } from './replica/checkpoint-store.js';
import { LeaderLock } from './replica/leader-lock.js';
import { BulkSpool } from './replica/bulk-spool.js';
import { ReplicaWriter } from './replica/replica-writer.js';
import { migrateStateDb, type StateConnection } from './replica/state-db.js';
import { openStateOf } from './replica/state-store.js';
import { Heartbeat } from './source/heartbeat.js';
import type { ReplicationStream } from './source/replication-stream.js';
import { InstanceViews } from './replica/instance-views.js';
import { StreamFaultStore } from './replica/stream-fault-store.js';
import { QuotaWatch } from './sync/quota-watch.js';
import { RateBudget } from './sync/rate-budget.js';
import { RateLedger } from './sync/rate-ledger.js';
import { Reconciler } from './sync/reconciler.js';
import { PushHistory } from './sync/push-history.js';
import { ConnectorRunStore } from './replica/connector-run.js';
import { SyncScheduler, type PushFn } from './sync/sync-scheduler.js';
import type { PushGateState } from './sync/push-gate.js';
import { PushGateStore } from './sync/push-gate-store.js';
import type { LoopStage } from './loop-stage.js';
import { connectFeishu } from './connect-feishu.js';
import { startReplica } from './start-replica.js';
import { startSyncStage } from './start-sync.js';
import { createStream } from './start-stream.js';
import { startHttp } from './start-http.js';
import type { ChangeBatch } from './replica/row-change.js';

export interface PipelineOptions {
  settings: Settings;
  mappings: MappingSet;
  logger: Logger;
  /** Replaces the Feishu client (tests of the sync stage alone); default: FeishuClient over HTTP. */
  push?: PushFn;
  metrics?: Metrics;
  /** Copy pages of this many rows during the initial load. */
  snapshotPageSize?: number;
  /** Called after each copied page (tests use it to write during the copy or interrupt it). */
  afterSnapshotPage?: (table: string, copied: number) => void | Promise<void>;
  /** Drop the slot and copy everything again (recovery from a lost slot). */
  resnapshot?: boolean;
  /** Progress of the initial copy after each page, for a terminal bar. */
  onSnapshotProgress?: (report: TableProgressReport) => void;
  /** After each streamed batch is in the replica (benchmarks time the stages of a change with it). */
  onBatchApplied?: (batch: ChangeBatch, appliedAt: number) => void;
}

export class Pipeline {
  readonly metrics: Metrics;
  /** The last hour of lag, budget and backlog samples (one every 2 s), for the console's charts. */
  readonly samples = new SampleRing(1800);
  /** The rate budget, once the sync stage exists (the lag probe samples it from the copy on). */
  private budget: RateBudget | null = null;
  readonly done: Promise<void>;
  private stream: ReplicationStream | null = null;
  private writer: ReplicaWriter | null = null;
  private scheduler: SyncScheduler | null = null;
  private heartbeat: Heartbeat | null = null;
  private probe: LagProbe | null = null;
  private reconciler: Reconciler | null = null;
  private history: PushHistory | null = null;
  private gaugeTimer: NodeJS.Timeout | null = null;
  /** Writes the held-back counts of throttled log lines (at a stop). */
  private flushLogs: () => void = () => undefined;
  private server: Server | null = null;
  private feishu: FeishuClient | null = null;
  private quotaWatch: QuotaWatch | null = null;
  private countCall: () => void = () => undefined;
  private state: (StateConnection & { store: { url: string; description: string } }) | null = null;
  private lock: LeaderLock | null = null;
  private loopStage: LoopStage | null = null;
  private ledger: RateLedger | null = null;
  private stopping: Promise<void> | null = null;
  /** This run's row (only while holding the lock) and the error the run is stopping on, if any. */
  private run: ConnectorRunStore | null = null;
  private failure: unknown = undefined;
  /** Set once Feishu issued a tenant_access_token for our credentials. */
  private tokenObtained = false;
  private tokenError: string | null = null;
  private readonly abort = new AbortController();
  private resolveDone!: () => void;
  private rejectDone!: (e: unknown) => void;

  constructor(private readonly o: PipelineOptions) {
    this.metrics = o.metrics ?? createMetrics();
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // The caller awaits `done`; this keeps an early failure from being an unhandled rejection.
    this.done.catch(() => undefined);
  }

  get streaming(): boolean {
    return this.stream?.connected ?? false;
  }

  /** The port /metrics, /healthz and /readyz listen on (null when off or not started). */
  get healthPort(): number | null {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : null;
  }

  get sync(): SyncScheduler | null {
    return this.scheduler;
  }

  /** Bot cards, the callback endpoint and the decision applier (null before start). */
  get loop(): LoopStage | null {
    return this.loopStage;
  }

  /** Starts every stage; resolves once streaming has been started (after the initial load if any). */
  async start(): Promise<void> {
    try {
      await this.startStages();
    } catch (error) {
      // The stop that follows records it for `status` (a start that fails is the connector failing).
      if (!this.stopping) this.failure ??= error;
      throw error;
    }
  }

  private async startStages(): Promise<void> {
    const { settings: s, logger, mappings } = this.o;
    // Credentials first: a wrong secret must not leave a slot behind that retains WAL.
    if (!this.o.push) {
      let outage = false;
      this.feishu = await connectFeishu(s, {
        // Calls of the month are counted from the first one (the counter is loaded after migrating).
        onCountedCall: () => this.countCall(),
        onTokenRenew: () => {
          this.metrics.tokenRenewals.inc();
          this.tokenObtained = true;
        },
        tolerateOutage: true,
        onOutage: (error) => {
          outage = true;
          this.tokenError = describeError(error);
        },
        logger,
      });
      // Ready means Feishu took our credentials (an idle connector might otherwise never be ready).
      if (!outage) this.tokenObtained = true;
    }
    // The state store: APPROVAL_CDC_STATE_URL, else the embedded store (started here and stopped last,
    // also when another command had started it: the daemon outlives one-shot commands).
    this.state = await openStateOf(s, { logger, adopt: true });
    const stateUrl = this.state.store.url;
    logger.info({ state: this.state.store.description }, `state: ${this.state.store.description}`);
    await migrateStateDb(this.state);
    const db = this.state.db;

    this.server = await startHttp({
      settings: s,
      mappings,
      db,
      metrics: this.metrics,
      samples: this.samples,
      readiness: async () => this.readiness(),
      logger,
      wake: () => this.scheduler?.wake(),
    });
    this.lock = new LeaderLock(stateUrl, s.slotName);
    await this.lock.acquire({
      wait: s.standby,
      signal: this.abort.signal,
      onWaiting: () => logger.info({ slot: s.slotName }, 'another connector is active; standing by'),
      onLost: (e) => this.fail(new CdcError('LOCK_HELD', 'lost the active lock; stopping', { cause: e })),
    });
    this.metrics.leader.set(1);
    logger.info({ slot: s.slotName }, 'holding the active lock');
    this.run = new ConnectorRunStore(db, s.stateSchema, s.slotName);
    await this.run.started();

    initTableSeries(this.metrics, mappings.tables.keys());
    const backfill = new BackfillReporter({
      metrics: this.metrics,
      logger,
      budgetPerMinute: s.ratePerMinute,
    });
    // Sampling starts before the copy: the slot retains WAL from its creation on, and the copy is
    // when that matters most.
    const views = new InstanceViews(db, s.stateSchema);
    this.probe = new LagProbe({
      sourceUrl: s.sourceUrl,
      slot: s.slotName,
      metrics: this.metrics,
      checkpoints: new CheckpointStore(db, s.stateSchema),
      instances: () => (this.scheduler ? views : null),
      db,
      spool: new BulkSpool(s.stateSchema, s.slotName),
      logger,
      intervalMs: 2000,
      onSample: (sample) => {
        this.samples.push(Date.now(), { ...sample, budgetUsed: this.budget?.usedLastMinute() ?? 0 });
        backfill.update(sample.backlogBulk, sample.backlogBackfill);
      },
    });
    this.probe.start();

    const onSnapshotProgress = this.o.onSnapshotProgress;
    const copyReporter = new CopyReporter({
      metrics: this.metrics,
      logger,
      ...(onSnapshotProgress ? { onReport: onSnapshotProgress } : {}),
    });
    const { writer, checkpoints, checkpoint } = await startReplica({
      settings: s,
      mappings,
      db,
      pool: this.state.pool,
      logger,
      ...(this.o.snapshotPageSize ? { pageSize: this.o.snapshotPageSize } : {}),
      ...(this.o.afterSnapshotPage ? { afterPage: this.o.afterSnapshotPage } : {}),
      ...(this.o.resnapshot ? { resnapshot: true } : {}),
      onProgress: (table, p) => copyReporter.update(table, p),
    });

    // Errors that repeat while something stays broken (a state database down): one line a minute.
    const errorLog = new LogThrottle(logger);
    this.flushLogs = () => errorLog.flush();
    const sync = await startSyncStage({
      settings: s,
      mappings,
      db,
      logger,
      metrics: this.metrics,
      feishu: this.feishu,
      push: this.o.push,
      errorLog,
      backfill,
      onCalls: (count) => (this.countCall = count),
      onGateChange: (state, store) => this.gateChanged(state, store),
    });
    const { scheduler, budget, gate } = sync;
    this.scheduler = scheduler;
    this.budget = budget;
    this.ledger = sync.ledger;
    this.history = sync.history;
    this.loopStage = sync.loopStage;
    this.quotaWatch = sync.quotaWatch;
    this.gaugeTimer = setInterval(() => {
      this.metrics.inFlight.set(scheduler.inFlightCount);
      this.metrics.budgetUsed.set(budget.usedLastMinute());
    }, 1000);

    // A fault reported by an earlier process is not this one's: it shows again if it recurs.
    const faults = new StreamFaultStore(db, s.stateSchema, s.slotName);
    await faults.clear();
    this.writer = writer;
    // The stream counted these changes when it handed them over (spooled).
    writer.onSpoolApplied((summary) => {
      this.metrics.changesParked.inc(summary.parked?.length ?? 0);
      if (summary.instancesDirtied > 0) this.scheduler?.wake();
    });
    this.stream = createStream({
      settings: s,
      mappings,
      writer,
      checkpoints,
      checkpoint,
      faults,
      metrics: this.metrics,
      errorLog,
      logger,
      wake: () => this.scheduler?.wake(),
      ...(this.o.onBatchApplied ? { onBatchApplied: this.o.onBatchApplied } : {}),
    });
    // The stream ends when stop() stopped it; `done` settles only once the whole stop finished
    // (pushes in flight, lock, connections), since `run` exits the process right after it.
    this.stream.run().then(
      () => void this.stop(),
      (e: unknown) => this.fail(e),
    );
    this.heartbeat = new Heartbeat(s.sourceUrl, s.heartbeatIntervalMs, logger);
    this.heartbeat.start();
    if (this.feishu && s.reconcileIntervalMs > 0) {
      const client = this.feishu;
      this.reconciler = new Reconciler({
        db,
        schema: s.stateSchema,
        mappings,
        // Checks are counted calls too: none while pushing is stopped or the quota paused.
        check: (instances) => (gate.running ? client.checkInstances(instances) : Promise.resolve([])),
        logger,
        intervalMs: s.reconcileIntervalMs,
        windowMs: s.reconcileWindowMs,
        share: s.reconcileShare,
        perMinute: s.ratePerMinute,
        onDiff: (n) => {
          this.metrics.reconcileDiffs.inc(n);
          this.scheduler?.wake();
        },
      });
      this.reconciler.start();
    }
  }

  private gateChanged(state: PushGateState, store: PushGateStore): void {
    this.metrics.pushingStopped.reset();
    this.metrics.quotaPaused.set(
      state.state === 'stopped' && (state.code === '99991403' || state.code === '99991406') ? 1 : 0,
    );
    if (state.state === 'stopped') {
      this.metrics.pushingStopped.set({ code: state.code }, 1);
      this.metrics.pushingStoppedSince.set(Math.floor(state.since.getTime() / 1000));
    } else {
      this.metrics.pushingStopped.set({ code: '' }, 0);
      this.metrics.pushingStoppedSince.set(0);
      if (store && this.scheduler) this.o.logger.warn('pushing resumed: Feishu accepted a push again');
    }
    store
      .write(state)
      .catch((e: unknown) => this.o.logger.error({ err: e }, 'cannot record the push gate state'));
  }

  async readiness() {
    let stateOk = false;
    try {
      await this.state?.pool.query('select 1');
      stateOk = this.state !== null;
    } catch {
      stateOk = false;
    }
    const streaming = this.streaming;
    const gate = this.scheduler?.gate.state;
    const pushing = gate?.state === 'running';
    // Ready for Feishu means Feishu issued a token for our credentials, not merely "no error yet".
    const tokenOk = this.feishu === null || this.tokenObtained;
    // /healthz stays 200 while pushing is stopped: a restart cannot fix credentials or a scope, and
    // the gate probes by itself; /readyz, `status` and approval_cdc_pushing_stopped carry the stop.
    const feishu =
      gate === undefined
        ? 'not started'
        : gate.state === 'running'
          ? tokenOk || `no tenant_access_token obtained yet${this.tokenError ? `: ${this.tokenError}` : ''}`
          : `pushing stopped since ${gate.since.toISOString()}: ${gate.reason} (next probe ${gate.nextProbeAt.toISOString()})`;
    return {
      ready: streaming && stateOk && pushing && tokenOk,
      checks: { streaming, stateDatabase: stateOk, feishu },
    };
  }

  private fail(error: unknown): void {
    if (this.stopping) {
      // Already stopping (a signal, or Ctrl-C that also stopped a local Postgres): connections
      // ending now are the stop itself, not a failure worth a fatal line.
      this.o.logger.debug({ err: error }, `while stopping: ${describeError(error)}`);
      return;
    }
    this.o.logger.fatal({ err: error }, `pipeline failed: ${describeError(error)}`);
    this.rejectDone(error);
    void this.stop(error);
  }

  /**
   * Stops every stage; every caller gets the same promise, settled once everything is closed.
   * `failure` is the fatal error the connector stops on (recorded for `status`); none is a clean stop.
   */
  stop(failure?: unknown): Promise<void> {
    if (failure !== undefined && !this.stopping) this.failure = failure;
    this.stopping ??= this.stopStages();
    return this.stopping;
  }

  /** Records how this run ended, while still holding the lock; never delays the stop by much. */
  private async recordRunEnd(): Promise<void> {
    // A lost lock means another connector runs now and owns the row.
    if (!this.run || isCdcError(this.failure, 'LOCK_HELD')) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.run.stopped(this.failure),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new CdcError('STATE_DB', 'recording the end of the run timed out')),
            2000,
          );
        }),
      ]);
    } catch (error) {
      this.o.logger.warn({ err: error }, `cannot record the end of this run in the state database`);
    } finally {
      clearTimeout(timer);
    }
  }

  private async stopStages(): Promise<void> {
    this.abort.abort();
    await this.stream?.stop();
    await this.writer?.stopSpool();
    await this.loopStage?.stop();
    await this.heartbeat?.stop();
    if (this.gaugeTimer) clearInterval(this.gaugeTimer);
    await this.quotaWatch?.stop();
    // The reconciler's pass and the scheduler's paced loop both end at their next step; pushes in
    // flight get at most the request timeout, the longest one call can take.
    await Promise.all([this.reconciler?.stop(), this.scheduler?.stop(this.o.settings.requestTimeoutMs)]);
    await this.ledger?.flush();
    await this.history?.stop();
    await this.probe?.stop();
    this.flushLogs();
    await this.feishu?.close();
    await this.recordRunEnd();
    await this.lock?.release();
    await this.state?.close();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      // A scraper's keep-alive connection must not hold the stop open.
      this.server.closeAllConnections();
    });
    this.metrics.leader.set(0);
    this.resolveDone();
  }
}
