import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { ReplicaWriter } from '../../src/replica/replica-writer.js';
import type { ChangeBatch } from '../../src/replica/row-change.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { LEGACY_MAPPINGS } from '../support/connector-fixture.js';
import { createTestDatabase, type TestDatabase, testPool } from '../support/test-database.js';

const KEYS = new Map([
  ['oa.requests', ['req_id']],
  ['oa.steps', ['step_id']],
  ['oa.cc', ['cc_no']],
  ['oa.users', ['user_no']],
]);

const request = (lsn: bigint, values: Record<string, string | null | undefined>) =>
  ({
    kind: 'upsert',
    table: 'oa.requests',
    lsn,
    values: {
      req_id: '1',
      form_type: '1',
      title: 'T',
      applicant_no: '5',
      status_code: '1',
      detail_doc: 'long',
      submitted_at: '2026-11-01 00:00:00',
      updated_at: '2026-11-01 00:00:00',
      ...values,
    },
  }) as const;
const step = (lsn: bigint, id: string, req: string) =>
  ({
    kind: 'upsert',
    table: 'oa.steps',
    lsn,
    values: {
      step_id: id,
      req_id: req,
      seq: '1',
      node_name: 'N',
      approver_no: '6',
      state_code: '0',
      created_at: '2026-11-01 00:00:00',
      updated_at: '2026-11-01 00:00:00',
    },
  }) as const;

describe('replica writer', () => {
  let db: TestDatabase;
  let state: StateConnection;
  let writer: ReplicaWriter;
  let sql: pg.Pool;
  const schema = 'approval_cdc';

  beforeAll(async () => {
    db = await createTestDatabase('replica');
    state = openStateDb(db.url, schema);
    await migrateStateDb(state);
    sql = testPool({ connectionString: db.url, max: 2 });
    writer = new ReplicaWriter(state.db, schema, loadMappings(LEGACY_MAPPINGS), KEYS, 's');
  });
  beforeEach(async () => {
    await sql.query(`truncate ${schema}.row_image, ${schema}.instance, ${schema}.checkpoint`);
    await new CheckpointStore(state.db, schema).beginSnapshot('s', 50n);
  });
  afterAll(async () => {
    await sql?.end();
    await state?.close();
    await db?.drop();
  });

  const image = async (tbl: string, pk: string) =>
    (
      await sql.query(`select lsn::text, deleted, data from ${schema}.row_image where tbl = $1 and pk = $2`, [
        tbl,
        pk,
      ])
    ).rows[0];
  const versions = async () =>
    Object.fromEntries(
      (await sql.query(`select external_id, version::int from ${schema}.instance order by 1`)).rows.map(
        (r) => [r.external_id, r.version],
      ),
    );
  const checkpoint = async () =>
    BigInt((await sql.query(`select lsn from ${schema}.checkpoint`)).rows[0].lsn);
  /** A connector restarted once streaming: a new writer, which reads the image horizon afresh. */
  const restarted = async () => {
    await new CheckpointStore(state.db, schema).finishSnapshot('s');
    return new ReplicaWriter(state.db, schema, loadMappings(LEGACY_MAPPINGS), KEYS, 's');
  };
  const fresh = <T extends object>(change: T) => ({ ...change, fresh: true }) as T & { fresh: true };

  it('re-applying a transaction leaves the replica as it was and dirties nothing', async () => {
    const tx: ChangeBatch = {
      changes: [request(100n, {}), step(101n, '10', '1')],
      endLsn: 110n,
      commitTime: new Date(),
    };
    expect((await writer.applyBatch(tx)).applied).toBe(2);
    const before = { versions: await versions(), image: await image('oa.requests', '["1"]') };
    const again = await writer.applyBatch(tx);
    expect(again).toEqual({ applied: 0, skipped: 2, instancesDirtied: 0 });
    expect(await versions()).toEqual(before.versions);
    expect(await image('oa.requests', '["1"]')).toEqual(before.image);
  });

  it('skips the image read of an insert beyond the image horizon, and not of a replayed one', async () => {
    // A step under request 1, written before the restart: the horizon becomes its LSN, 101.
    await writer.applyBatch({
      changes: [request(100n, {}), step(101n, '10', '1')],
      endLsn: 110n,
      commitTime: new Date(),
    });
    let w = await restarted();
    const v = await versions();
    // Replayed insert at the horizon: its image is read, so it is skipped and dirties nothing.
    expect(
      await w.applyBatch({ changes: [fresh(step(101n, '10', '1'))], endLsn: 110n, commitTime: new Date() }),
    ).toEqual({ applied: 0, skipped: 1, instancesDirtied: 0 });
    // An insert of the same key from beyond the horizon (only possible if the replica diverged, here
    // on purpose) is not read: request 1, which the stored image points at, is not dirtied.
    await w.applyBatch({ changes: [request(120n, { req_id: '2' })], endLsn: 125n, commitTime: new Date() });
    const v2 = await versions();
    expect(
      await w.applyBatch({ changes: [fresh(step(130n, '10', '2'))], endLsn: 135n, commitTime: new Date() }),
    ).toEqual({ applied: 1, skipped: 0, instancesDirtied: 1 });
    expect(await versions()).toEqual({ 'oa-req-1': v['oa-req-1'], 'oa-req-2': v2['oa-req-2'] + 1 });
    // The horizon rose with that batch (130): after another restart, its replay is read and skipped.
    w = await restarted();
    expect(
      await w.applyBatch({ changes: [fresh(step(130n, '10', '2'))], endLsn: 135n, commitTime: new Date() }),
    ).toEqual({ applied: 0, skipped: 1, instancesDirtied: 0 });
    expect((await sql.query(`select image_lsn::text from ${schema}.checkpoint`)).rows[0].image_lsn).toBe(
      '130',
    );
  });

  it('writes an insert beyond the horizon whose key was deleted before, through the fallback to upserts', async () => {
    await writer.applyBatch({
      changes: [request(100n, {}), step(101n, '10', '1')],
      endLsn: 110n,
      commitTime: new Date(),
    });
    await writer.applyBatch({
      changes: [{ kind: 'delete', table: 'oa.steps', lsn: 120n, values: { step_id: '10' } }],
      endLsn: 125n,
      commitTime: new Date(),
    });
    const w = await restarted();
    // Step 10 comes back: its key is not read (beyond the horizon), its tombstone is in the way of
    // the plain insert, and the batch still commits whole.
    expect(
      await w.applyBatch({
        changes: [fresh(step(130n, '10', '1')), fresh(step(131n, '12', '1'))],
        endLsn: 135n,
        commitTime: new Date(),
      }),
    ).toMatchObject({ applied: 2 });
    expect(await image('oa.steps', '["10"]')).toMatchObject({ lsn: '130', deleted: false });
    expect(await image('oa.steps', '["12"]')).toMatchObject({ lsn: '131', deleted: false });
    expect(await checkpoint()).toBe(135n);
  });

  it('stores nothing for a row inserted and deleted in one batch beyond the horizon, yet dirties its instance', async () => {
    await writer.applyBatch({ changes: [request(100n, {})], endLsn: 110n, commitTime: new Date() });
    let w = await restarted();
    const v = await versions();
    const gone = { kind: 'delete', table: 'oa.steps', lsn: 122n, values: { step_id: '10' } } as const;
    const born = [fresh(step(120n, '10', '1')), fresh(step(121n, '11', '1'))];
    expect(
      await w.applyBatch({ changes: [...born, gone], endLsn: 125n, commitTime: new Date() }),
    ).toMatchObject({ applied: 3, instancesDirtied: 1 });
    expect(await image('oa.steps', '["10"]')).toBeUndefined();
    expect(await image('oa.steps', '["11"]')).toMatchObject({ lsn: '121', deleted: false });
    expect((await versions())['oa-req-1']).toBe(v['oa-req-1'] + 1);
    // A replay from before the insert, cut into other batches, ends with step 10 gone as well.
    w = await restarted();
    await w.applyBatch({ changes: [born[0]!], endLsn: null, commitTime: null });
    await w.applyBatch({ changes: [born[1]!, gone], endLsn: 125n, commitTime: new Date() });
    expect(await image('oa.steps', '["10"]')).toMatchObject({ lsn: '122', deleted: true });
    expect(await image('oa.steps', '["11"]')).toMatchObject({ lsn: '121', deleted: false });
  });

  it('reads every image while the snapshot copy runs, and learns the horizon from the replica once streaming', async () => {
    await writer.applyBatch({
      changes: [request(100n, {}), step(101n, '10', '1')],
      endLsn: 110n,
      commitTime: new Date(),
    });
    // Still in the snapshot phase (as after beginSnapshot): no horizon, the replayed insert is read.
    const during = new ReplicaWriter(state.db, schema, loadMappings(LEGACY_MAPPINGS), KEYS, 's');
    expect(
      await during.applyBatch({
        changes: [fresh(step(101n, '10', '1'))],
        endLsn: 110n,
        commitTime: new Date(),
      }),
    ).toMatchObject({ applied: 0, skipped: 1 });
    expect((await sql.query(`select image_lsn from ${schema}.checkpoint`)).rows[0].image_lsn).toBeNull();
    const w = await restarted();
    expect(
      await w.applyBatch({ changes: [fresh(step(101n, '10', '1'))], endLsn: 110n, commitTime: new Date() }),
    ).toMatchObject({ applied: 0, skipped: 1 });
    expect((await sql.query(`select image_lsn::text from ${schema}.checkpoint`)).rows[0].image_lsn).toBe(
      '101',
    );
  });

  it('never replaces an image by one from an earlier LSN', async () => {
    await writer.applyBatch({
      changes: [request(200n, { title: 'newer' })],
      endLsn: 210n,
      commitTime: new Date(),
    });
    await writer.applyBatch({
      changes: [request(100n, { title: 'older' })],
      endLsn: 110n,
      commitTime: new Date(),
    });
    expect((await image('oa.requests', '["1"]')).data.title).toBe('newer');
    expect(await checkpoint()).toBe(210n);
  });

  it('keeps an unchanged TOAST value and resolves a key-only delete to its instance', async () => {
    await writer.applyBatch({
      changes: [request(100n, {}), step(101n, '10', '1')],
      endLsn: 110n,
      commitTime: new Date(),
    });
    await writer.applyBatch({
      changes: [request(120n, { status_code: '2', detail_doc: undefined })],
      endLsn: 130n,
      commitTime: new Date(),
    });
    expect((await image('oa.requests', '["1"]')).data.detail_doc).toBe('long');
    const v = (await versions())['oa-req-1'];
    await writer.applyBatch({
      changes: [{ kind: 'delete', table: 'oa.steps', lsn: 140n, values: { step_id: '10' } }],
      endLsn: 150n,
      commitTime: new Date(),
    });
    const tomb = await image('oa.steps', '["10"]');
    expect(tomb.deleted).toBe(true);
    expect(tomb.data.req_id).toBe('1');
    expect((await versions())['oa-req-1']).toBe(v + 1);
  });

  it('dirties both instances when a step moves to another request, and both when its key changes', async () => {
    await writer.applyBatch({
      changes: [request(100n, {}), request(101n, { req_id: '2' }), step(102n, '10', '1')],
      endLsn: 110n,
      commitTime: new Date(),
    });
    const v = await versions();
    await writer.applyBatch({ changes: [step(120n, '10', '2')], endLsn: 130n, commitTime: new Date() });
    expect(await versions()).toEqual({ 'oa-req-1': v['oa-req-1'] + 1, 'oa-req-2': v['oa-req-2'] + 1 });
    await writer.applyBatch({
      changes: [{ ...step(140n, '11', '2'), oldKey: { step_id: '10' } }],
      endLsn: 150n,
      commitTime: new Date(),
    });
    expect((await image('oa.steps', '["10"]')).deleted).toBe(true);
    expect((await image('oa.steps', '["11"]')).deleted).toBe(false);
  });

  it('deletes rows written earlier in the same batch when the table is truncated in it', async () => {
    await writer.applyBatch({
      changes: [request(100n, {}), step(101n, '10', '1')],
      endLsn: 110n,
      commitTime: new Date(),
    });
    await writer.applyBatch({
      changes: [step(120n, '11', '1'), { kind: 'truncate', table: 'oa.steps', lsn: 121n }],
      endLsn: 130n,
      commitTime: new Date(),
    });
    expect((await image('oa.steps', '["10"]')).deleted).toBe(true);
    expect((await image('oa.steps', '["11"]')).deleted).toBe(true);
  });

  it('moves the checkpoint only with a committed transaction', async () => {
    await writer.applyBatch({ changes: [request(100n, {})], endLsn: null, commitTime: null });
    expect(await checkpoint()).toBe(50n);
    await writer.applyBatch({ changes: [step(101n, '10', '1')], endLsn: 120n, commitTime: new Date() });
    expect(await checkpoint()).toBe(120n);
  });

  it("stages a batch while the one before it is still being written, reading that batch's images", async () => {
    // Another session holds the checkpoint row, so the first batch cannot commit until it lets go.
    const blocker = await sql.connect();
    await blocker.query('begin');
    await blocker.query(`select * from ${schema}.checkpoint for update`);
    const first = writer.applyBatch({
      changes: [request(100n, {}), step(101n, '10', '1')],
      endLsn: 110n,
      commitTime: new Date(),
    });
    // The TOAST value is not sent: only the first batch, not yet committed, has it.
    const second = writer.applyBatch({
      changes: [request(120n, { status_code: '2', detail_doc: undefined })],
      endLsn: 130n,
      commitTime: new Date(),
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(await image('oa.requests', '["1"]')).toBeUndefined();
    await blocker.query('commit');
    blocker.release();
    await first;
    expect(await second).toMatchObject({ applied: 1, instancesDirtied: 1 });
    expect((await image('oa.requests', '["1"]')).data).toMatchObject({
      status_code: '2',
      detail_doc: 'long',
    });
    expect(await checkpoint()).toBe(130n);
  });

  it('fails the batches handed over with a failed one, and applies their changes when they come again', async () => {
    await sql.query(`create or replace function ${schema}.refuse_777() returns trigger language plpgsql as $$
      begin if new.lsn = 777 then raise exception 'refused'; end if; return new; end $$`);
    await sql.query(
      `create trigger refuse_777 before update on ${schema}.checkpoint for each row execute function ${schema}.refuse_777()`,
    );
    try {
      const failing = writer.applyBatch({
        changes: [request(700n, {})],
        endLsn: 777n,
        commitTime: new Date(),
      });
      const behind = writer.applyBatch({
        changes: [step(780n, '10', '1')],
        endLsn: 790n,
        commitTime: new Date(),
      });
      await expect(failing).rejects.toThrow(/refused/);
      await expect(behind).rejects.toThrow(/earlier batch failed/);
      // Handed over after the failure, before the stream restarted: refused as well.
      await expect(
        writer.applyBatch({ changes: [step(800n, '11', '1')], endLsn: 810n, commitTime: new Date() }),
      ).rejects.toThrow(/earlier batch failed/);
      expect(await image('oa.requests', '["1"]')).toBeUndefined();
      expect(await image('oa.steps', '["10"]')).toBeUndefined();
      expect(await checkpoint()).toBe(50n);
      // The stream replays from the checkpoint: the same changes, now under another end position.
      writer.resume();
      const replay = await writer.applyBatch({
        changes: [request(700n, {}), step(780n, '10', '1')],
        endLsn: 790n,
        commitTime: new Date(),
      });
      expect(replay.applied).toBe(2);
      expect((await image('oa.requests', '["1"]')).lsn).toBe('700');
      expect(await checkpoint()).toBe(790n);
    } finally {
      await sql.query(`drop trigger refuse_777 on ${schema}.checkpoint`);
    }
  });
});
