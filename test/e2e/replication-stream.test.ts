import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import type { ChangeBatch } from '../../src/replica/row-change.js';
import { parseLsn, type Lsn } from '../../src/core/lsn.js';
import { ReplicationStream, type BatchSink } from '../../src/source/replication-stream.js';
import { createTestDatabase, type TestDatabase, testPool } from '../support/test-database.js';
import { waitFor } from '../support/connector-fixture.js';

describe('replication stream', () => {
  let db: TestDatabase;
  let sql: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('stream');
    sql = testPool({ connectionString: db.url, max: 2 });
    await sql.query(`create table t (id bigint primary key, n numeric(20,6), at timestamptz, big int8, flag boolean, doc text);
      create table other (id serial primary key, v text);
      create publication p for table t;`);
  });
  afterAll(async () => {
    await sql?.end();
    await db?.drop();
  });

  async function newSlot(name: string): Promise<Lsn> {
    const { rows } = await sql.query(
      `select lsn::text from pg_create_logical_replication_slot($1, 'pgoutput')`,
      [name],
    );
    return parseLsn(rows[0].lsn);
  }
  const confirmed = async (slot: string) =>
    parseLsn(
      (
        await sql.query(
          `select confirmed_flush_lsn::text as l from pg_replication_slots where slot_name = $1`,
          [slot],
        )
      ).rows[0].l,
    );

  function stream(
    slot: string,
    checkpoint: Lsn,
    sink: BatchSink,
    batchMaxChanges = 500,
    keep?: ReadonlySet<string>,
  ) {
    return new ReplicationStream({
      sourceUrl: db.url,
      slot,
      publication: 'p',
      tables: new Set(['public.t']),
      ...(keep ? { keep: (table: string) => (table === 'public.t' ? keep : undefined) } : {}),
      sink,
      checkpoint,
      batchMaxChanges,
      batchMaxWaitMs: 10,
      statusIntervalMs: 100,
      silenceTimeoutMs: 30_000,
      truncate: 'ignore',
      logger: createLogger('silent'),
    });
  }

  it('keeps the exact text of int8, numeric, timestamptz and boolean values', async () => {
    const slot = `${db.name}_text`;
    const start = await newSlot(slot);
    const batches: ChangeBatch[] = [];
    const s = stream(slot, start, {
      applyBatch: async (b: ChangeBatch) => void batches.push(b),
      advanceIdle: async () => undefined,
    });
    const run = s.run();
    await sql.query(
      `insert into t values (1, 12345678901234.500000, '2026-11-25 09:30:00.123456+08', 9007199254740993, true, 'x')`,
    );
    await waitFor(() => batches.some((b) => b.changes.length > 0), 10_000, 'the insert');
    await s.stop();
    await run;
    const change = batches.flatMap((b) => b.changes)[0];
    expect(change?.kind === 'upsert' && change.values).toEqual({
      id: '1',
      n: '12345678901234.500000',
      at: '2026-11-25 01:30:00.123456+00',
      big: '9007199254740993',
      flag: 't',
      doc: 'x',
    });
  });

  it('decodes only the kept columns, marks inserts fresh and leaves an unchanged TOAST value undefined', async () => {
    const slot = `${db.name}_keep`;
    const start = await newSlot(slot);
    const batches: ChangeBatch[] = [];
    const s = stream(
      slot,
      start,
      { applyBatch: async (b: ChangeBatch) => void batches.push(b), advanceIdle: async () => undefined },
      500,
      new Set(['id', 'n', 'doc', 'flag']),
    );
    const run = s.run();
    // A random 10 kB text is stored out of line (TOAST) and not sent again by an update that keeps it.
    await sql.query(
      `insert into t (id, n, big, doc) values (40, 1.5, 7, (select string_agg(md5(g::text), '') from generate_series(1, 320) g))`,
    );
    await sql.query(`update t set n = 2.5 where id = 40`);
    await waitFor(() => batches.flatMap((b) => b.changes).length >= 2, 10_000, 'the insert and the update');
    await s.stop();
    await run;
    const [insert, update] = batches.flatMap((b) => b.changes);
    expect(insert?.kind === 'upsert' && insert.fresh).toBe(true);
    expect(insert?.kind === 'upsert' && Object.keys(insert.values)).toEqual(['id', 'n', 'flag', 'doc']);
    expect(insert?.kind === 'upsert' && insert.values.doc?.length).toBe(10_240);
    expect(update?.kind === 'upsert' && update.fresh).toBeUndefined();
    expect(update?.kind === 'upsert' && update.values).toEqual({
      id: '40',
      n: '2.500000',
      flag: null,
      doc: undefined,
    });
    expect(update?.kind === 'upsert' && 'doc' in update.values).toBe(true);
  });

  it('never confirms a position beyond what the sink has durably applied', async () => {
    const slot = `${db.name}_ack`;
    const start = await newSlot(slot);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let applied: Lsn = 0n;
    const sink = { held: null as Lsn | null };
    const s = stream(slot, start, {
      applyBatch: async (b: ChangeBatch) => {
        sink.held = b.endLsn;
        await gate;
        if (b.endLsn !== null) applied = b.endLsn;
      },
      advanceIdle: async () => undefined,
    });
    const run = s.run();
    await sql.query(`insert into t (id) values (2)`);
    const end = parseLsn((await sql.query(`select pg_current_wal_insert_lsn()::text as l`)).rows[0].l);
    // The sink holds the batch: several status intervals pass, and the slot stays before the held
    // transaction's commit end. (An idle keepalive sent before the transaction arrived may carry a WAL
    // end just past its insert record, which the walsender had read before the commit was written:
    // confirming that is safe, since a transaction is replayed when its commit lies past the slot.)
    await waitFor(() => sink.held !== null, 10_000, 'the batch handed to the sink');
    await new Promise((r) => setTimeout(r, 800));
    expect(await confirmed(slot)).toBeGreaterThanOrEqual(start);
    expect(await confirmed(slot)).toBeLessThan(sink.held ?? 0n);
    release();
    await waitFor(
      async () => (await confirmed(slot)) >= applied && applied > 0n,
      10_000,
      'the ack after apply',
    );
    expect(await confirmed(slot)).toBeGreaterThanOrEqual(applied);
    expect(applied).toBeLessThanOrEqual(end);
    await s.stop();
    await run;
  });

  it('hands a 20,000-row transaction over in bounded batches, each open one naming its commit, and moves the checkpoint only at its commit', async () => {
    const slot = `${db.name}_big`;
    const start = await newSlot(slot);
    const batches: { size: number; endLsn: Lsn | null; open?: Lsn }[] = [];
    const s = stream(
      slot,
      start,
      {
        applyBatch: async (b: ChangeBatch) =>
          void batches.push({
            size: b.changes.length,
            endLsn: b.endLsn,
            ...(b.txOpen === true && b.openCommitLsn !== undefined ? { open: b.openCommitLsn } : {}),
          }),
        advanceIdle: async () => undefined,
      },
      500,
    );
    const run = s.run();
    await sql.query(`insert into t (id, doc) select g, repeat('x', 100) from generate_series(100, 20099) g`);
    await waitFor(() => batches.reduce((n, b) => n + b.size, 0) >= 20_000, 30_000, 'all rows');
    await waitFor(() => batches.some((b) => b.endLsn !== null), 10_000, 'the commit');
    await s.stop();
    await run;
    expect(Math.max(...batches.map((b) => b.size))).toBeLessThanOrEqual(500);
    const withEnd = batches.filter((b) => b.endLsn !== null);
    expect(withEnd).toHaveLength(1);
    expect(batches[batches.length - 1]?.endLsn).not.toBeNull();
    // Every batch before the last is open and names the commit record, just before the commit's end.
    const end = withEnd[0]?.endLsn ?? 0n;
    const opens = batches.slice(0, -1).map((b) => b.open);
    expect(opens.every((o) => o !== undefined && o < end && o > start)).toBe(true);
    expect(new Set(opens).size).toBe(1);
  });

  it('hands a transaction that fills a batch exactly over whole, with its commit, not as an open batch', async () => {
    const slot = `${db.name}_exact`;
    const start = await newSlot(slot);
    const batches: { size: number; endLsn: Lsn | null; open: boolean }[] = [];
    const s = stream(
      slot,
      start,
      {
        applyBatch: async (b: ChangeBatch) =>
          void batches.push({ size: b.changes.length, endLsn: b.endLsn, open: b.txOpen === true }),
        advanceIdle: async () => undefined,
      },
      500,
    );
    const run = s.run();
    await sql.query(`insert into t (id) select g from generate_series(30000, 30499) g`);
    await sql.query(`insert into t (id) select g from generate_series(30500, 30999) g`);
    await waitFor(() => batches.filter((b) => b.endLsn !== null).length >= 2, 20_000, 'both commits');
    await s.stop();
    await run;
    expect(batches).toEqual([
      { size: 500, endLsn: expect.any(BigInt) as Lsn, open: false },
      { size: 500, endLsn: expect.any(BigInt) as Lsn, open: false },
    ]);
  });

  it('confirms past a workload on unpublished tables when idle', async () => {
    const slot = `${db.name}_idle`;
    const start = await newSlot(slot);
    const advanced: Lsn[] = [];
    const s = stream(slot, start, {
      applyBatch: async () => undefined,
      advanceIdle: async (l: Lsn) => void advanced.push(l),
    });
    const run = s.run();
    await sql.query(`insert into other (v) select 'x' from generate_series(1, 1000)`);
    const end = parseLsn((await sql.query(`select pg_current_wal_insert_lsn()::text as l`)).rows[0].l);
    await waitFor(
      async () => (await confirmed(slot)) >= end,
      20_000,
      'the slot to pass the unpublished workload',
    );
    // Stored before confirmed: the idle position reached the sink first.
    expect(advanced.some((l) => l >= end)).toBe(true);
    await s.stop();
    await run;
  });
});
