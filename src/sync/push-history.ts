// Owns the push history (`push_history`): the last pushes of every instance with their time, result
// and Feishu code, read by `status` and the console. Invariants: bounded - after each write an
// instance keeps at most `perInstance` rows, and the table at most `total` rows plus one pruning step
// (total/20, pruned in one statement when that many were written since the last prune); written off
// the push path - outcomes are buffered and inserted together every `flushMs`, so a crash loses at
// most that buffer (history, never sync state), and a state database that is down costs a bounded
// buffer, not memory growth.
import { sql, type Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';

/** 'unchanged': synced without a push (payload equal to the last accepted one). */
export type PushResult = 'accepted' | 'retry' | 'parked' | 'stopped' | 'absent' | 'unchanged';

export interface PushRecord {
  instanceId: string;
  externalId: string;
  version: bigint;
  lane: number;
  result: PushResult;
  /** Feishu's code ("0" when accepted), or the connector's error code. */
  code: string;
  message: string | null;
  /** The update_time sent (accepted pushes). */
  updateTime: bigint | null;
  at: Date;
}

export interface PushEntry extends PushRecord {
  id: string;
}

export interface PushHistoryLimits {
  perInstance: number;
  total: number;
}

export interface PushCount {
  result: string;
  code: string;
  count: number;
}

interface EntryRow {
  id: string;
  at: Date | string;
  instance_id: string;
  external_id: string;
  version: string;
  lane: number;
  result: string;
  code: string;
  message: string | null;
  update_time: string | null;
}

/** Results that take an instance out of its lane (a retry or a stop leaves it there). */
export const DRAINING_RESULTS: readonly PushResult[] = ['accepted', 'unchanged', 'absent', 'parked'];

/** Rows kept in memory while the state database does not answer; older ones are dropped first. */
const MAX_BUFFER = 10_000;
/** Longest message stored; a parked reason can quote a whole payload. */
const MAX_MESSAGE = 2000;

export class PushHistory {
  private buffer: PushRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private sinceTotalPrune = 0;
  private readonly totalStep: number;

  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
    private readonly limits: PushHistoryLimits = { perInstance: 20, total: 100_000 },
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {
    this.totalStep = Math.max(1, Math.floor(limits.total / 20));
  }

  private get t() {
    return sql.id(this.schema, 'push_history');
  }

  start(flushMs = 250): void {
    this.timer ??= setInterval(() => void this.flush(), flushMs);
  }

  /** Stops the timer and writes what is buffered. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  record(entry: PushRecord): void {
    this.buffer.push(entry);
    if (this.buffer.length > MAX_BUFFER) this.buffer.splice(0, this.buffer.length - MAX_BUFFER);
  }

  /** Writes the buffered entries and prunes; one flush at a time, in order. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeBuffered());
    return this.flushing;
  }

  private async writeBuffered(): Promise<void> {
    if (this.buffer.length === 0) return;
    const entries = this.buffer;
    this.buffer = [];
    const docs = entries.map((e) => ({
      at: e.at.toISOString(),
      instance_id: e.instanceId,
      external_id: e.externalId,
      version: e.version.toString(),
      lane: e.lane,
      result: e.result,
      code: e.code,
      message: e.message === null ? null : e.message.slice(0, MAX_MESSAGE),
      update_time: e.updateTime === null ? null : e.updateTime.toString(),
    }));
    try {
      await sql`insert into ${this.t} (at, instance_id, external_id, version, lane, result, code, message, update_time)
        select at, instance_id, external_id, version, lane, result, code, message, update_time
        from jsonb_to_recordset(${JSON.stringify(docs)}::jsonb) as x(at timestamptz, instance_id text,
          external_id text, version bigint, lane smallint, result text, code text, message text, update_time bigint)
        order by at`.execute(this.db);
      const ids = [...new Set(entries.map((e) => e.instanceId))];
      await sql`delete from ${this.t} where id in (
          select id from (
            select id, row_number() over (partition by instance_id order by id desc) as rn
            from ${this.t} where instance_id = any(${ids}::text[])
          ) ranked where rn > ${this.limits.perInstance})`.execute(this.db);
      this.sinceTotalPrune += entries.length;
      if (this.sinceTotalPrune >= this.totalStep) {
        this.sinceTotalPrune = 0;
        await sql`delete from ${this.t}
          where id <= (select id from ${this.t} order by id desc offset ${this.limits.total} limit 1)`.execute(
          this.db,
        );
      }
    } catch (error) {
      this.onError(error);
    }
  }

  /** The pushes of these instances (internal ids), newest first; `beforeId` pages further back. */
  async forInstances(instanceIds: readonly string[], limit: number, beforeId?: string): Promise<PushEntry[]> {
    const { rows } = await sql<EntryRow>`select * from ${this.t}
      where instance_id = any(${instanceIds}::text[]) and (${beforeId ?? null}::bigint is null or id < ${beforeId ?? null}::bigint)
      order by id desc limit ${limit}`.execute(this.db);
    return rows.map(entryOf);
  }

  /** The latest pushes of any instance, newest first; `beforeId` pages further back. */
  async latest(limit: number, beforeId?: string): Promise<PushEntry[]> {
    const { rows } = await sql<EntryRow>`select * from ${this.t}
      where (${beforeId ?? null}::bigint is null or id < ${beforeId ?? null}::bigint)
      order by id desc limit ${limit}`.execute(this.db);
    return rows.map(entryOf);
  }

  /** Instances of the lanes below live that left their lane (DRAINING_RESULTS) since `since`. */
  async drainedBelowLiveSince(since: Date): Promise<number> {
    const { rows } = await sql<{ count: number }>`select count(*)::int as count from ${this.t}
      where at >= ${since.toISOString()}::timestamptz and lane > 0 and result = any(${DRAINING_RESULTS}::text[])`.execute(
      this.db,
    );
    return Number(rows[0]?.count ?? 0);
  }

  /** Pushes recorded since `since`, by result and code, most frequent first. */
  async countsSince(since: Date): Promise<PushCount[]> {
    const { rows } = await sql<{ result: string; code: string; count: number }>`
      select result, code, count(*)::int as count from ${this.t} where at >= ${since.toISOString()}::timestamptz
      group by result, code order by count desc, result, code`.execute(this.db);
    return rows.map((r) => ({ result: r.result, code: r.code, count: Number(r.count) }));
  }
}

function entryOf(r: EntryRow): PushEntry {
  return {
    id: String(r.id),
    at: new Date(r.at),
    instanceId: r.instance_id,
    externalId: r.external_id,
    version: BigInt(r.version),
    lane: Number(r.lane),
    result: r.result as PushResult,
    code: r.code,
    message: r.message,
    updateTime: r.update_time === null ? null : BigInt(r.update_time),
  };
}
