// Checks shared by every fault scenario, the crash test's logic made reusable:
// - the ack sampler: the slot's confirmed_flush_lsn never exceeds the checkpoint stored in the state
//   database (DESIGN invariant 1), sampled all along; it also records WAL lag and the confirmed
//   position over time, and survives the databases going away (a failed sample is counted, not fatal);
// - the push-order check: per instance, the update_time of accepted pushes never goes back
//   (invariant 2), read from the fake Feishu's log.
import pg from 'pg';
import type { PushRecord } from '../../../src/feishu/fake/fake-feishu.js';
import { parseLsn } from '../../../src/core/lsn.js';

export interface AckSample {
  at: number;
  confirmed: bigint;
  checkpoint: bigint;
  currentWal: bigint;
}

export interface AckReport {
  samples: number;
  failedSamples: number;
  violations: string[];
  /** Largest pg_current_wal_lsn() - confirmed_flush_lsn seen, in bytes. */
  maxLagBytes: bigint;
}

export interface AckSampler {
  /** The newest successful sample. */
  readonly last: AckSample | null;
  /** Samples taken since `since` (ms epoch). */
  samplesSince(since: number): AckSample[];
  stop(): Promise<AckReport>;
}

export function startAckSampler(o: {
  sourceUrl: string;
  stateUrl: string;
  slot: string;
  schema: string;
  intervalMs?: number;
}): AckSampler {
  const source = new pg.Pool({ connectionString: o.sourceUrl, max: 1, connectionTimeoutMillis: 2000 });
  const state =
    o.stateUrl === o.sourceUrl
      ? source
      : new pg.Pool({ connectionString: o.stateUrl, max: 1, connectionTimeoutMillis: 2000 });
  source.on('error', () => undefined);
  state.on('error', () => undefined);
  const history: AckSample[] = [];
  const report: AckReport = { samples: 0, failedSamples: 0, violations: [], maxLagBytes: 0n };
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        // A checkpoint still 'creating' holds no position yet (its slot exists, its snapshot is not recorded).
        // Confirmed position first, checkpoint second: the checkpoint only grows, so the later read can
        // only make the comparison easier, never hide a real violation.
        const slot = await source.query<{ lsn: string | null; wal: string }>(
          `select confirmed_flush_lsn::text as lsn, pg_current_wal_insert_lsn()::text as wal from pg_replication_slots where slot_name = $1`,
          [o.slot],
        );
        const cp = await state
          .query<{ lsn: string }>(
            `select lsn::text from "${o.schema}".checkpoint where slot = $1 and phase <> 'creating'`,
            [o.slot],
          )
          .catch(() => ({ rows: [] as { lsn: string }[] }));
        const row = slot.rows[0];
        const cpRow = cp.rows[0];
        if (row?.lsn && cpRow) {
          const sample = {
            at: Date.now(),
            confirmed: parseLsn(row.lsn),
            checkpoint: BigInt(cpRow.lsn),
            currentWal: parseLsn(row.wal),
          };
          report.samples++;
          history.push(sample);
          if (sample.confirmed > sample.checkpoint)
            report.violations.push(`confirmed ${row.lsn} > checkpoint ${sample.checkpoint}`);
          const lag = sample.currentWal - sample.confirmed;
          if (lag > report.maxLagBytes) report.maxLagBytes = lag;
        }
      } catch {
        report.failedSamples++;
      }
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
    }
  })();
  return {
    get last() {
      return history.at(-1) ?? null;
    },
    samplesSince(since: number) {
      return history.filter((s) => s.at >= since);
    },
    async stop() {
      running = false;
      await loop;
      await source.end().catch(() => undefined);
      if (state !== source) await state.end().catch(() => undefined);
      return report;
    },
  };
}

export interface PushOrderReport {
  /** Instances that received at least one accepted push. */
  instances: number;
  accepted: number;
  /** Push attempts that reached the fake (accepted or not, resets included). */
  attempts: number;
  rejected: number;
  regressions: string[];
}

/** Per instance, the update_time of accepted pushes never decreases. */
export function checkPushOrder(pushes: readonly PushRecord[]): PushOrderReport {
  const last = new Map<string, bigint>();
  const out: PushOrderReport = {
    instances: 0,
    accepted: 0,
    attempts: pushes.length,
    rejected: 0,
    regressions: [],
  };
  for (const push of pushes) {
    if (!push.accepted) {
      out.rejected++;
      continue;
    }
    out.accepted++;
    if (!push.instance_id || !push.update_time) continue;
    const t = BigInt(push.update_time);
    const prev = last.get(push.instance_id);
    if (prev !== undefined && t < prev) out.regressions.push(`${push.instance_id}: ${prev} then ${t}`);
    last.set(push.instance_id, t);
  }
  out.instances = last.size;
  return out;
}
