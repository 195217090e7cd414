// Puts `run`'s replication stream together: the replica writer as its sink, and what each result
// tells the rest of the connector (parked changes counted and logged, the sync stage woken, the
// stream's metrics, a fault that repeats recorded for `status` and cleared once the stream moves).
// Invariant: the sink hands the writer's result back unchanged, so the stream's own guarantees
// (order, ack after durable) are the writer's; everything here only observes.
import type { Settings } from './config/settings.js';
import type { LogThrottle } from './core/log-throttle.js';
import type { Logger } from './core/logger.js';
import { formatLsn } from './core/lsn.js';
import type { MappingSet } from './mapping/contract.js';
import type { Metrics } from './observe/metrics.js';
import type { CheckpointStore } from './replica/checkpoint-store.js';
import type { ReplicaWriter } from './replica/replica-writer.js';
import type { ChangeBatch } from './replica/row-change.js';
import type { StreamFaultStore } from './replica/stream-fault-store.js';
import { ReplicationStream } from './source/replication-stream.js';
import type { Lsn } from './core/lsn.js';

export interface StreamWiring {
  settings: Settings;
  mappings: MappingSet;
  writer: ReplicaWriter;
  checkpoints: CheckpointStore;
  /** The position the replica holds (startReplica's result). */
  checkpoint: Lsn;
  faults: StreamFaultStore;
  metrics: Metrics;
  /** Errors that repeat while something stays broken: one line a minute. */
  errorLog: LogThrottle;
  logger: Logger;
  /** Instances became dirty: the sync stage has work. */
  wake: () => void;
  onBatchApplied?: (batch: ChangeBatch, appliedAt: number) => void;
}

export function createStream(w: StreamWiring): ReplicationStream {
  const { settings: s, mappings, writer, metrics, errorLog, logger, faults } = w;
  return new ReplicationStream({
    sourceUrl: s.sourceUrl,
    slot: s.slotName,
    publication: s.publicationName,
    tables: new Set(mappings.tables.keys()),
    columns: new Map([...mappings.tables].map(([t, use]) => [t, use.columns])),
    keep: (table) => writer.keep(table),
    sink: {
      applyBatch: async (batch) => {
        const summary = await writer.applyBatch(batch);
        for (const p of summary.parked ?? []) {
          metrics.changesParked.inc();
          errorLog.warn(
            { code: 'CHANGE_PARKED', reason: `${p.table} ${p.reason}` },
            { table: p.table, lsn: formatLsn(p.lsn), instances: p.instances },
            `change parked: ${p.reason}`,
          );
        }
        if (summary.instancesDirtied > 0) w.wake();
        return summary;
      },
      advanceIdle: (lsn) => w.checkpoints.advance(s.slotName, lsn),
      resume: () => writer.resume(),
    },
    checkpoint: w.checkpoint,
    batchMaxChanges: s.batchMaxChanges,
    batchMaxWaitMs: s.batchMaxWaitMs,
    statusIntervalMs: s.statusIntervalMs,
    silenceTimeoutMs: s.silenceTimeoutMs,
    truncate: s.truncate,
    logger,
    hooks: {
      onConnected: () => metrics.streaming.set(1),
      onDisconnected: () => {
        metrics.streaming.set(0);
        metrics.reconnects.inc();
      },
      onBatchApplied: (batch, n) => {
        metrics.changesApplied.inc(n);
        metrics.batchesApplied.inc();
        w.onBatchApplied?.(batch, Date.now());
      },
      onRepeatedFailure: (fault) => {
        metrics.streamRepeatedFailures.set(fault.failures);
        faults
          .record(fault)
          .catch((e: unknown) => logger.error({ err: e }, 'cannot record the stream fault'));
      },
      onRecovered: () => {
        metrics.streamRepeatedFailures.set(0);
        faults.clear().catch((e: unknown) => logger.error({ err: e }, 'cannot clear the stream fault'));
      },
    },
  });
}
