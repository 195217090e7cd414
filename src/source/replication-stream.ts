// Owns the replication connection and every status update sent to Postgres.
// Invariant 1 (ack after durable): the flush LSN we report is the commit-end LSN of the last source
// transaction the replica has committed (or, when idle with nothing received and unapplied, the
// keepalive's WAL end). The library's own acknowledgement is off (auto=false, timeoutSeconds=0),
// we answer keepalives ourselves and always subscribe from 0/0 (the slot's confirmed position).
// Invariant 5 (bounded memory): a batch holds at most `batchMaxChanges` changes and at most
// MAX_IN_FLIGHT batches are with the sink; when the decoded-message queue grows past a high-water
// mark the socket is paused.
import { LogicalReplicationService, type Pgoutput } from 'pg-logical-replication';
import { CdcError, describeError } from '../errors.js';
import type { Logger } from '../core/logger.js';
import type { ChangeBatch } from '../replica/row-change.js';
import { BatchBuilder } from './batch-builder.js';
import { createExactTextPlugin, type KeepColumns, type ParsedMessage } from './exact-text-plugin.js';
import { formatLsn, maxLsn, parseLsn, type Lsn } from '../core/lsn.js';

export interface BatchSink {
  /**
   * Stores a batch durably. Called again before the previous call settles: the sink must commit
   * batches in call order, and once one fails it must fail every batch until resume().
   */
  applyBatch(batch: ChangeBatch): Promise<unknown>;
  /** Called when a session starts, after every batch of the previous one has settled. */
  resume?(): void;
  /** Records a position reached with nothing to apply (keepalive while idle), before it is confirmed. */
  advanceIdle(lsn: Lsn): Promise<void>;
}

export interface StreamHooks {
  onConnected?(): void;
  onDisconnected?(error: unknown): void;
  onBatchApplied?(batch: ChangeBatch, changes: number): void;
  onBytes?(): void;
  onStatusSent?(lsn: Lsn): void;
  onSlotLost?(error: CdcError): void;
  /** The stream failed `failures` times in a row at one position (REPEATED_FAILURES or more). */
  onRepeatedFailure?(fault: StreamFault): void;
  /** The stream moved past the position it kept failing at. */
  onRecovered?(): void;
}

/** A stream failing again and again without moving: where, on which tables, and why. */
export interface StreamFault {
  /** The position every attempt restarts from (the checkpoint). */
  position: Lsn;
  /** The tables of the batch that failed to apply (empty when the failure was not a batch). */
  tables: string[];
  error: string;
  failures: number;
}

/** Failures at one position before the stream is reported as failing repeatedly. */
export const REPEATED_FAILURES = 3;

export interface ReplicationStreamOptions {
  sourceUrl: string;
  slot: string;
  publication: string;
  tables: ReadonlySet<string>;
  /** Columns the mappings read, per table: a relation message without one of them is reported. */
  columns?: ReadonlyMap<string, readonly string[]>;
  /** Columns to decode per table (the rest are skipped); default: all. Must include the key columns. */
  keep?: KeepColumns;
  sink: BatchSink;
  /** The checkpoint stored in the state database (what the replica already holds). */
  checkpoint: Lsn;
  batchMaxChanges: number;
  batchMaxWaitMs: number;
  statusIntervalMs: number;
  silenceTimeoutMs: number;
  truncate: 'ignore' | 'delete';
  logger: Logger;
  hooks?: StreamHooks;
}

type QueueItem =
  | { kind: 'data'; lsn: string; msg: ParsedMessage }
  | { kind: 'keepalive'; walEnd: string; shouldRespond: boolean }
  | { kind: 'flush' };

/**
 * Decoded messages waiting for the batcher before the socket is paused. Undecoded bytes wait in the
 * socket for free; decoded ones are objects the GC copies until their batch commits. Measured: 1,000
 * against 5,000, two interleaved pairs of the ingest bench, median ratio 0.564/0.553 against
 * 0.520/0.477; 400 was no better than 1,000.
 */
const HIGH_WATER = 1_000;
/**
 * One batch being written and the next one staged. Measured, not derived: with a third batch
 * decoded ahead, ingest was slower (bench, four interleaved pairs: median ratio 0.47-0.54 with two,
 * 0.42-0.52 with three); the likely cause is this process decoding when the write it waits on comes
 * back (batch statements ran ~15 ms apart for ~18 ms of server time each).
 */
const MAX_IN_FLIGHT = 2;
const LOW_WATER = 200;

export class ReplicationStream {
  private durable: Lsn;
  private idleAck = 0n;
  private stopped = false;
  private service: LogicalReplicationService | null = null;
  // A FIFO as an array plus a head index: Array#shift is O(n) and made decoding quadratic.
  private queue: QueueItem[] = [];
  private head = 0;
  /** The last batch handed to the sink (true once applied and its position recorded). */
  private writing: Promise<boolean> | null = null;
  /** Batches handed to the sink and not yet settled, oldest first. */
  private inFlight: Promise<boolean>[] = [];
  private draining = false;
  private paused = false;
  private readonly batches: BatchBuilder;
  private flushTimer: NodeJS.Timeout | null = null;
  private sessionError: ((e: unknown) => void) | null = null;
  private lastByteAt = Date.now();
  /** The tables of the batch whose write ended the session (null: it ended for another reason). */
  private failedTables: string[] | null = null;
  /** Consecutive failed sessions and the position they all restarted from. */
  private fault: { position: Lsn; failures: number } | null = null;
  private reported = false;
  connected = false;

  constructor(private readonly o: ReplicationStreamOptions) {
    this.durable = o.checkpoint;
    this.batches = new BatchBuilder(o);
  }

  /** The position confirmed to Postgres: never beyond what the replica holds. */
  get confirmedLsn(): Lsn {
    return maxLsn(this.durable, this.idleAck);
  }

  /** Runs sessions until stop(); each failure rebuilds the service after a backoff. */
  async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      let reachedStart = false;
      try {
        await this.session(() => (reachedStart = true));
      } catch (error) {
        if (this.stopped) break;
        const lost = classifySlotError(error, this.o.slot);
        if (lost) {
          this.o.hooks?.onSlotLost?.(lost);
          throw lost;
        }
        this.o.logger.warn({ err: error }, `replication stream failed: ${describeError(error)}`);
        this.o.hooks?.onDisconnected?.(error);
        this.noteFailure(error);
      }
      if (this.stopped) break;
      // A session that got as far as streaming resets the backoff: short outages recover fast. One
      // that keeps failing at the same position does not: it is not an outage, and hammering the
      // source and the state database with replays helps nobody.
      const stuck = (this.fault?.failures ?? 0) >= REPEATED_FAILURES;
      attempt = reachedStart && !stuck ? 1 : attempt + 1;
      const delay = Math.min(30_000, 250 * 2 ** Math.min(attempt, 7));
      await sleep(delay);
    }
  }

  /** Counts a failed session against the position it restarts from; reports a repeated one. */
  private noteFailure(error: unknown): void {
    const position = this.confirmedLsn;
    const tables = this.failedTables ?? [];
    this.failedTables = null;
    this.fault =
      this.fault && this.fault.position === position
        ? { position, failures: this.fault.failures + 1 }
        : { position, failures: 1 };
    if (this.fault.failures < REPEATED_FAILURES) return;
    const fault: StreamFault = {
      position,
      tables,
      error: describeError(error),
      failures: this.fault.failures,
    };
    this.reported = true;
    this.o.logger.error(
      { slot: this.o.slot, position: formatLsn(position), tables, failures: fault.failures },
      `replication stream failed ${fault.failures} times in a row at ${formatLsn(position)}${
        tables.length > 0 ? ` applying changes of ${tables.join(', ')}` : ''
      }: ${fault.error}`,
    );
    this.o.hooks?.onRepeatedFailure?.(fault);
  }

  /** A batch moved the position: the failures counted so far are over. */
  private noteProgress(endLsn: Lsn | null): void {
    if (!this.fault || endLsn === null || endLsn <= this.fault.position) return;
    this.fault = null;
    if (!this.reported) return;
    this.reported = false;
    this.o.logger.info({ slot: this.o.slot, position: formatLsn(endLsn) }, 'replication stream moves again');
    this.o.hooks?.onRecovered?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sessionError?.(new CdcError('SHUTDOWN', 'stream stopped'));
  }

  private async session(onStart: () => void): Promise<void> {
    this.resetSessionState();
    // Everything the previous session handed over has settled (see the end of this method).
    this.o.sink.resume?.();
    const service = new LogicalReplicationService(
      { connectionString: this.o.sourceUrl, application_name: 'approval-cdc' },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } },
    );
    this.service = service;
    const plugin = createExactTextPlugin(this.o.publication, this.o.keep);
    let statusTimer: NodeJS.Timeout | null = null;
    let watchdog: NodeJS.Timeout | null = null;
    try {
      await new Promise<void>((resolve, reject) => {
        this.sessionError = reject;
        service.on('data', (lsn: string, msg: ParsedMessage) => this.enqueue({ kind: 'data', lsn, msg }));
        service.on('heartbeat', (walEnd: string, _ts: number, shouldRespond: boolean) =>
          this.enqueue({ kind: 'keepalive', walEnd, shouldRespond }),
        );
        service.on('error', (e: unknown) => reject(e));
        service.on('start', () => {
          onStart();
          this.connected = true;
          this.o.hooks?.onConnected?.();
          this.o.logger.info(
            { slot: this.o.slot, from: formatLsn(this.confirmedLsn) },
            'replication stream started',
          );
          this.sendStatus(true);
        });
        statusTimer = setInterval(() => this.sendStatus(true), this.o.statusIntervalMs);
        watchdog = setInterval(
          () => {
            if (Date.now() - this.lastByteAt > this.o.silenceTimeoutMs) {
              reject(
                new CdcError(
                  'SOURCE_STREAM',
                  `no byte from the replication stream for ${this.o.silenceTimeoutMs} ms`,
                ),
              );
            }
          },
          Math.min(1000, this.o.silenceTimeoutMs),
        );
        this.lastByteAt = Date.now();
        service.subscribe(plugin, this.o.slot, '0/0').then(
          () => reject(new CdcError('SOURCE_STREAM', 'replication stream ended')),
          (e: unknown) => reject(e),
        );
      });
    } finally {
      this.connected = false;
      if (statusTimer) clearInterval(statusTimer);
      if (watchdog) clearInterval(watchdog);
      if (this.flushTimer) clearTimeout(this.flushTimer);
      this.flushTimer = null;
      this.sessionError = null;
      this.service = null;
      this.queue = [];
      this.head = 0;
      await service.destroy().catch(() => undefined);
      // Let a drain in progress finish its write before the next session resets the buffers.
      while (this.draining) await sleep(10);
      await this.settleWrites();
    }
  }

  private resetSessionState(): void {
    this.queue = [];
    this.head = 0;
    this.writing = null;
    this.inFlight = [];
    this.batches.reset();
    this.paused = false;
  }

  private enqueue(item: QueueItem): void {
    this.lastByteAt = Date.now();
    this.o.hooks?.onBytes?.();
    this.queue.push(item);
    if (!this.paused && this.queue.length - this.head > HIGH_WATER) this.setPaused(true);
    if (!this.draining) void this.drain();
  }

  private setPaused(paused: boolean): void {
    // The library exposes no pause; its own flowControl does exactly this on the same socket.
    const stream = (
      this.service as unknown as { _connection?: { stream?: { pause(): void; resume(): void } } } | null
    )?._connection?.stream;
    if (!stream) return;
    this.paused = paused;
    if (paused) stream.pause();
    else stream.resume();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    const service = this.service;
    try {
      while (this.head < this.queue.length && this.service === service) {
        const item = this.queue[this.head] as QueueItem;
        this.head++;
        if (this.head > 4096 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        // Most messages need no I/O: handled synchronously, without a promise and a microtask each.
        const io = this.handle(item);
        if (io) await io;
        if (this.paused && this.queue.length - this.head < LOW_WATER) this.setPaused(false);
      }
    } catch (error) {
      this.sessionError?.(error);
    } finally {
      this.draining = false;
    }
  }

  /** Handles one queued item; returns a promise only when it has I/O to wait for. */
  private handle(item: QueueItem): Promise<void> | undefined {
    if (item.kind === 'flush') {
      return this.batches.hasBatch ? this.flush() : undefined;
    }
    if (item.kind === 'keepalive') return this.keepalive(item);

    const msg = item.msg;
    switch (msg.tag) {
      case 'parse-error':
        throw new CdcError('SOURCE_STREAM', `cannot decode pgoutput message: ${describeError(msg.error)}`, {
          cause: msg.error,
        });
      case 'begin':
        this.batches.begin(msg);
        return;
      case 'relation':
        this.batches.relation(msg);
        return;
      case 'insert':
      case 'update':
      case 'delete':
      case 'truncate':
        // A full batch is handed over before the next change rather than at its own last one: when
        // the next message is the commit, the batch ends with it, whole. A batch ending inside a
        // transaction costs the replica more (its instances are held, the bulk lanes read the state
        // database, the write is a transaction of several statements instead of one).
        if (this.batches.size >= this.o.batchMaxChanges)
          return this.flush().then(() => this.collect(item.lsn, msg));
        this.collect(item.lsn, msg);
        return;
      case 'commit': {
        this.batches.commit(item.lsn, msg);
        if (this.batches.size >= this.o.batchMaxChanges || this.o.batchMaxWaitMs === 0) return this.flush();
        this.scheduleFlush();
        return;
      }
      default:
        return;
    }
  }

  private async keepalive(item: Extract<QueueItem, { kind: 'keepalive' }>): Promise<void> {
    const walEnd = parseLsn(item.walEnd);
    if (this.batches.idle && this.writing === null && walEnd > this.confirmedLsn) {
      // Nothing received is unapplied: everything up to walEnd is applied or irrelevant. It is
      // stored before it is confirmed, so the stored checkpoint never trails the slot.
      await this.o.sink.advanceIdle(walEnd);
      this.idleAck = maxLsn(this.idleAck, walEnd);
    }
    if (item.shouldRespond) this.sendStatus(false);
  }

  /** Collects a change; a batch it fills waits for the next message or, if none comes, the flush timer. */
  private collect(lsn: string, msg: Pgoutput.Message): void {
    this.batches.change(lsn, msg);
    if (this.batches.size >= this.o.batchMaxChanges) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.enqueue({ kind: 'flush' });
    }, this.o.batchMaxWaitMs);
  }

  private async flush(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    const batch = this.batches.take();
    const endLsn = batch.endLsn;
    // The sink commits batches in the order they are handed over and, once one failed, fails the
    // rest of the session's, so the next batch goes to it at once (it prepares that batch while the
    // previous one is written). Positions advance in order here. Decoding continues meanwhile, and
    // at most MAX_IN_FLIGHT batches are with the sink, so memory stays bounded.
    const previous = this.writing;
    const applying = this.o.sink.applyBatch(batch);
    const tracked: Promise<boolean> = (async () => {
      let ok = true;
      try {
        await applying;
      } catch (error) {
        // The session is ending; the stream replays every unacknowledged change on the next one.
        // The first failed batch names the tables (later ones fail because it did).
        if (this.failedTables === null) this.failedTables = [...new Set(batch.changes.map((c) => c.table))];
        this.sessionError?.(error);
        ok = false;
      }
      if (previous && !(await previous)) return false;
      if (!ok) return false;
      if (endLsn !== null) this.durable = maxLsn(this.durable, endLsn);
      this.noteProgress(endLsn);
      this.o.hooks?.onBatchApplied?.(batch, batch.changes.length);
      return true;
    })();
    this.writing = tracked;
    this.inFlight.push(tracked);
    void tracked.then(() => {
      if (this.writing === tracked) this.writing = null;
      this.inFlight = this.inFlight.filter((p) => p !== tracked);
    });
    while (this.inFlight.length >= MAX_IN_FLIGHT) await this.inFlight[0];
  }

  /** Waits until every batch handed to the sink is written (or failed). */
  private async settleWrites(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private sendStatus(ping: boolean): void {
    const service = this.service;
    const lsn = this.confirmedLsn;
    if (!service || lsn <= 0n) return;
    // The library reports `lsn + 1`; we pass lsn - 1 so Postgres receives exactly our position.
    service.acknowledge(formatLsn(lsn - 1n), ping).then(
      () => this.o.hooks?.onStatusSent?.(lsn),
      (e: unknown) => this.sessionError?.(e),
    );
  }
}

function classifySlotError(error: unknown, slot: string): CdcError | null {
  const code = (error as { code?: string } | null)?.code;
  const message = describeError(error);
  if (code === '42704' || /replication slot .* does not exist/i.test(message)) {
    return new CdcError(
      'SOURCE_SLOT_MISSING',
      `replication slot ${slot} does not exist; run \`approval-cdc setup --resnapshot\``,
      { cause: error },
    );
  }
  if (code === '55000' && /invalidated|lost|cannot read from logical replication slot/i.test(message)) {
    return new CdcError(
      'SOURCE_SLOT_LOST',
      `replication slot ${slot} was invalidated (WAL removed); run \`approval-cdc setup --resnapshot\``,
      { cause: error },
    );
  }
  return null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
