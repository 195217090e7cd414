// Bulk and tracked workloads on the example legacy schema (examples/legacy-approval/schema.sql).
// Bulk: blocks of requests, each written as an insert transaction (request + 2 steps + 1 CC each), an
// update transaction (its steps approved, the request finished) and a delete transaction (its CCs);
// every row change on a mapped table is counted from the statements' row counts, so the count is exact.
// Tracked: single-instance changes whose commit time (client side, right after COMMIT) and expected
// Feishu update_time are recorded, to match them later with the fake's accepted pushes.
import type pg from 'pg';
import { log } from './bench-env.js';

export interface BulkResult {
  rows: number;
  transactions: number;
  inserts: number;
  updates: number;
  deletes: number;
  largestTransaction: number;
  nextReq: number;
}

export interface BulkOptions {
  /** Row changes to write at least. */
  rows: number;
  /** Row changes of an insert transaction (updates and deletes of a block are 3/4 and 1/4 of it). */
  txRows: number;
  /** When set, the first block is one insert transaction of about this many rows. */
  bigTxRows?: number;
  /** First req_id to use (ids are req, req*10+1.., so blocks never collide). */
  firstReq?: number;
  /** Only insert (the initial-load data set); no updates or deletes. */
  insertOnly?: boolean;
  /** Name used in progress lines. */
  label?: string;
}

const TS = `'2026-11-25 08:00:00'::timestamp`;

async function tx(client: pg.ClientBase, statements: string[], params: unknown[]): Promise<number> {
  await client.query('begin');
  let n = 0;
  try {
    for (const s of statements) n += (await client.query(s, params)).rowCount ?? 0;
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  }
  return n;
}

/** Requests a..b with two steps and one CC each (4 rows per request). */
export function insertBlockSql(): string[] {
  return [
    `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
     select g, 1 + g % 3, 'Request ' || g, 1 + g % 20, 1, (g % 100000) / 100.0, 'reason ' || g, ${TS}, ${TS}
     from generate_series($1::bigint, $2::bigint) g`,
    `insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
     select g * 10 + s, g, s, 'Node ' || s, 1 + (g + s) % 20, 0, ${TS}, ${TS}
     from generate_series($1::bigint, $2::bigint) g, generate_series(1, 2) s`,
    `insert into oa.cc (cc_no, req_id, user_no, read_flag, created_at, updated_at)
     select g * 10 + 1, g, 1 + (g * 7) % 20, 'N', ${TS}, ${TS} from generate_series($1::bigint, $2::bigint) g`,
  ];
}

const UPDATE_BLOCK = [
  `update oa.steps set state_code = 1, acted_at = ${TS} + interval '1 hour', updated_at = ${TS} + interval '1 hour'
   where req_id between $1::bigint and $2::bigint`,
  `update oa.requests set status_code = 2, finished_at = ${TS} + interval '1 hour', updated_at = ${TS} + interval '1 hour'
   where req_id between $1::bigint and $2::bigint`,
];
const DELETE_BLOCK = [`delete from oa.cc where req_id between $1::bigint and $2::bigint`];

/** Writes at least `rows` row changes on the mapped tables; returns the exact count written. */
export async function bulkWorkload(pool: pg.Pool, o: BulkOptions): Promise<BulkResult> {
  const client = await pool.connect();
  const r: BulkResult = {
    rows: 0,
    transactions: 0,
    inserts: 0,
    updates: 0,
    deletes: 0,
    largestTransaction: 0,
    nextReq: o.firstReq ?? 1_000_000,
  };
  const perReq = o.insertOnly ? 4 : 8;
  let lastLog = Date.now();
  try {
    let first = true;
    while (r.rows < o.rows) {
      const remainingReqs = Math.ceil((o.rows - r.rows) / perReq);
      const blockRows = first && o.bigTxRows ? o.bigTxRows : o.txRows;
      first = false;
      const n = Math.max(1, Math.min(remainingReqs, Math.floor(blockRows / 4)));
      const range = [r.nextReq, r.nextReq + n - 1];
      r.nextReq += n;
      const ins = await tx(client, insertBlockSql(), range);
      r.inserts += ins;
      r.largestTransaction = Math.max(r.largestTransaction, ins);
      r.transactions++;
      if (!o.insertOnly) {
        const upd = await tx(client, UPDATE_BLOCK, range);
        const del = await tx(client, DELETE_BLOCK, range);
        r.updates += upd;
        r.deletes += del;
        r.transactions += 2;
        r.largestTransaction = Math.max(r.largestTransaction, upd, del);
      }
      r.rows = r.inserts + r.updates + r.deletes;
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        log(`${o.label ?? 'workload'}: ${r.rows} of ${o.rows} row changes written`);
      }
    }
  } finally {
    client.release();
  }
  return r;
}

/** One tracked change: the instance, the update_time Feishu must receive at least, when it committed. */
export interface TrackedChange {
  instanceId: string;
  expectedUpdateTime: bigint;
  committedAt: number;
  kind: 'new' | 'update';
  /** The WAL insert position just before its COMMIT: the first batch ending past it holds the change. */
  lsnBefore: bigint;
}

// Tracked changes carry local timestamps from 2030 on, later than anything the bulk data holds, one
// second apart, so the expected update_time is exact: Asia/Shanghai is UTC+8 all year.
const TRACK_BASE_LOCAL = Date.UTC(2030, 0, 1, 0, 0, 0);
const SHANGHAI_OFFSET_MS = 8 * 3600_000;

const LSN_BEFORE_COMMIT = `select (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text as lsn_before;`;

/** The lsn_before of a multi-statement query's results. */
function lsnOf(results: unknown): bigint {
  const list = (Array.isArray(results) ? results : [results]) as pg.QueryResult[];
  for (const r of list) {
    const v = (r.rows?.[0] as { lsn_before?: string } | undefined)?.lsn_before;
    if (v !== undefined) return BigInt(v);
  }
  return 0n;
}

export class TrackedChanges {
  readonly changes: TrackedChange[] = [];
  private seq = 0;
  private nextReq: number;

  constructor(
    private readonly pool: pg.Pool,
    firstNewReq: number,
  ) {
    this.nextReq = firstNewReq;
  }

  private stamp(): { local: string; expected: bigint } {
    const localMs = TRACK_BASE_LOCAL + ++this.seq * 1000;
    return {
      local: new Date(localMs).toISOString().replace('T', ' ').replace('Z', ''),
      expected: BigInt(localMs - SHANGHAI_OFFSET_MS),
    };
  }

  /** Inserts a new request with two steps and one CC in one transaction. */
  async newRequest(): Promise<TrackedChange> {
    const req = this.nextReq++;
    const { local, expected } = this.stamp();
    const results = await this.pool.query(`begin;
      insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
        values (${req}, 1, 'Live ${req}', ${1 + (req % 20)}, 1, 12.5, 'live change', '${local}', '${local}');
      insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        values (${req * 10 + 1}, ${req}, 1, 'Manager', ${1 + ((req + 1) % 20)}, 0, '${local}', '${local}'),
               (${req * 10 + 2}, ${req}, 2, 'HR', ${1 + ((req + 2) % 20)}, 0, '${local}', '${local}');
      insert into oa.cc (cc_no, req_id, user_no, read_flag, created_at, updated_at) values (${req * 10 + 1}, ${req}, 3, 'N', '${local}', '${local}');
      ${LSN_BEFORE_COMMIT}
      commit;`);
    return this.record(`oa-req-${req}`, expected, 'new', lsnOf(results));
  }

  /** Changes an existing request's title and status (keeps it pending or finishes it) in one transaction. */
  async updateRequest(req: number, finish = false): Promise<TrackedChange> {
    const { local, expected } = this.stamp();
    const results = await this.pool.query(`begin;
      update oa.requests set title = 'Updated ${this.seq}', status_code = ${finish ? 2 : 1},
        finished_at = ${finish ? `'${local}'` : 'null'}, updated_at = '${local}' where req_id = ${req};
      update oa.steps set state_code = ${finish ? 1 : 0}, updated_at = '${local}' where req_id = ${req};
      ${LSN_BEFORE_COMMIT}
      commit;`);
    return this.record(`oa-req-${req}`, expected, 'update', lsnOf(results));
  }

  private record(
    instanceId: string,
    expectedUpdateTime: bigint,
    kind: TrackedChange['kind'],
    lsnBefore: bigint,
  ): TrackedChange {
    const change = { instanceId, expectedUpdateTime, committedAt: Date.now(), kind, lsnBefore };
    this.changes.push(change);
    return change;
  }
}
