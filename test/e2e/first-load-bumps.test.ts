// A first load writes each instance row about once: the steps and CCs of a request copied after it
// leave its instance, already dirty, as it is (before, every such chunk wrote a new version of the
// instance row with its index entries: three writes per request in the bench). What the copy must
// still do: give the instance its request's backfill priority whatever the order the tables are
// copied in, and bump an instance that was pushed. A chunk loaded as meeting no stored image keeps
// its marks for the union only: should it meet one after all, it is rolled back and read again.
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyField } from '../../src/core/copy-text.js';
import { InstanceTable } from '../../src/replica/instance-table.js';
import { ChunkRetry, SnapshotLoader } from '../../src/replica/snapshot-loader.js';
import { LANE_BACKFILL } from '../../src/replica/instance-vocabulary.js';
import { openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { ensureRowQueryIndexes } from '../../src/replica/row-query.js';
import { startConnectorFixture, type ConnectorFixture } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

describe('the instance bumps of a first load', () => {
  let fx: ConnectorFixture;
  let state: StateConnection;
  beforeAll(async () => {
    // Feishu down: nothing is pushed, so every instance stays as the copy left it.
    fx = await startConnectorFixture({
      noPipeline: true,
      settings: { snapshotConcurrency: 1 },
      fake: { faults: { down: true } },
    });
    state = openStateDb(fx.stateUrl, fx.settings.stateSchema, { max: 1 });
    await seedUsers(fx.sql);
    await fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
      select g, 1, 'Request ' || g, 1 + g % 20, 1, '2026-01-01'::timestamp + g * interval '1 minute', '2026-02-01'
      from generate_series(1, 40) g`);
    await fx.sql.query(`insert into oa.steps (req_id, seq, node_name, approver_no, state_code, created_at)
      select 1 + g % 40, g, 'node', 1 + g % 20, 0, '2026-01-01' from generate_series(0, 79) g`);
    await fx.sql.query(`insert into oa.cc (req_id, user_no, created_at)
      select g, 1 + g % 20, '2026-01-01' from generate_series(1, 40) g`);
  });
  afterAll(async () => {
    await state?.close();
    await fx?.close();
  });

  /** The replica's lookup indexes (row-query.ts), by name. */
  const lookupIndexes = async (): Promise<string[]> =>
    (
      await fx.state.query<{ name: string }>(
        `select indexname as name from pg_indexes where schemaname = 'approval_cdc' and tablename = 'row_image'
         and indexname like 'row_image_q_%' order by 1`,
      )
    ).rows.map((r) => r.name);
  const lookupIndexesDuringCopy: string[][] = [];
  let lookupIndexesWhenStreaming: string[] = [];

  it("keeps each dirty instance's row while its steps and CCs are copied, with its request's priority", async () => {
    // Chunks of 30 rows, one table at a time: steps (80 rows) first, largest first, so each instance is
    // made by its steps (no priority yet), raised by its request, then met again by its CC.
    await fx.startPipeline({
      snapshotPageSize: 30,
      afterSnapshotPage: async () => {
        lookupIndexesDuringCopy.push(await lookupIndexes());
      },
    });
    lookupIndexesWhenStreaming = await lookupIndexes();
    await fx.stopPipeline();
    const { rows } = await fx.state.query<{
      id: string;
      version: string;
      synced: string;
      priority: string;
      update_ms: string;
    }>(
      `select id, version::text, synced_version::text as synced, priority::text, source_update_ms::text as update_ms
       from approval_cdc.instance order by id`,
    );
    expect(rows).toHaveLength(40);
    for (const r of rows) {
      // Steps (one or two chunks), request, CC: 3-4 versions when every bump wrote the row.
      expect(Number(r.version), r.id).toBeLessThanOrEqual(2);
      expect(Number(r.version), `${r.id} dirty`).toBeGreaterThan(Number(r.synced));
      // Open (status 1) and started in 2026: the request's rank, not the steps' zero.
      expect(BigInt(r.priority), r.id).toBeGreaterThan(BigInt(Date.parse('2026-01-01T00:00:00Z')));
      expect(Number(r.update_ms), r.id).toBeGreaterThan(0);
    }
  });

  it('copies without the lookup indexes and has every one built when streaming starts', async () => {
    // A first load follows no lookups (each instance is bumped by its own rows), so its images go in
    // without an index entry per lookup column; one CREATE INDEX each when the copy ends.
    expect(lookupIndexesDuringCopy.length).toBeGreaterThan(3);
    for (const during of lookupIndexesDuringCopy) expect(during).toEqual([]);
    // Every index the mappings' lookups need: building them again finds none missing.
    expect(lookupIndexesWhenStreaming.length).toBe(fx.mappings.queryColumns.length);
    await ensureRowQueryIndexes(state.db, 'approval_cdc', fx.mappings.queryColumns);
    expect(await lookupIndexes()).toEqual(lookupIndexesWhenStreaming);
  });

  it('builds a lookup index found missing when it starts streaming again', async () => {
    const [dropped] = lookupIndexesWhenStreaming;
    if (!dropped) throw new Error('no lookup index');
    await fx.state.query(`drop index approval_cdc.${dropped}`);
    await fx.startPipeline();
    await fx.stopPipeline();
    expect(await lookupIndexes()).toEqual(lookupIndexesWhenStreaming);
  });

  it('still bumps an instance that was pushed, and changes nothing else of a dirty one', async () => {
    const { rows } = await fx.state.query<{ id: string; mapping: string; key: string[] }>(
      `select id, mapping, key from approval_cdc.instance order by id limit 2`,
    );
    const [pushed, dirty] = rows;
    if (!pushed || !dirty) throw new Error('no instances');
    await fx.state.query(`update approval_cdc.instance set synced_version = version where id = $1`, [
      pushed.id,
    ]);
    const before = await fx.state.query<{ id: string; version: string }>(
      `select id, version::text from approval_cdc.instance where id = any($1::text[]) order by id`,
      [[pushed.id, dirty.id]],
    );
    const refs = new Map(rows.map((r) => [r.id, { mapping: r.mapping, key: r.key }]));
    await new InstanceTable(state.db, fx.settings.stateSchema)
      .bump(refs, LANE_BACKFILL, null, new Map(), (ref) => JSON.stringify(ref.key), undefined, true)
      ?.execute(state.db);
    const after = await fx.state.query<{ id: string; version: string; synced: string }>(
      `select id, version::text, synced_version::text as synced from approval_cdc.instance
       where id = any($1::text[]) order by id`,
      [[pushed.id, dirty.id]],
    );
    const versionOf = (list: { id: string; version: string }[], id: string) =>
      Number(list.find((r) => r.id === id)?.version);
    expect(versionOf(after.rows, pushed.id)).toBe(versionOf(before.rows, pushed.id) + 1);
    expect(versionOf(after.rows, dirty.id)).toBe(versionOf(before.rows, dirty.id));
  });

  it('leaves out of a first load bump only instances that stay dirty in the backfill lane', async () => {
    const { rows } = await fx.state.query<{ id: string }>(
      `select id from approval_cdc.instance order by id limit 4 offset 4`,
    );
    const [pushed, parked, live, dirty] = rows.map((r) => r.id);
    if (!pushed || !parked || !live || !dirty) throw new Error('no instances');
    await fx.state.query(`update approval_cdc.instance set synced_version = version where id = $1`, [pushed]);
    await fx.state.query(
      `update approval_cdc.instance set parked_at = now(), parked_reason = 'x' where id = $1`,
      [parked],
    );
    await fx.state.query(`update approval_cdc.instance set lane = 0 where id = $1`, [live]);
    const unchanged = await new InstanceTable(state.db, fx.settings.stateSchema).unchangedByBump(
      [pushed, parked, live, dirty, '["oa-request","none"]'],
      LANE_BACKFILL,
    );
    expect([...unchanged]).toEqual([dirty]);
  });

  it('reads a chunk again when a fresh insert meets a stored image, and merges it', async () => {
    const { rows } = await fx.state.query<{ lsn: string; data: Record<string, string | null> }>(
      `select lsn::text, data from approval_cdc.row_image where tbl = 'oa.requests' and pk = '["1"]'`,
    );
    const stored = rows[0];
    if (!stored) throw new Error('no image of request 1');
    const columns = Object.keys(stored.data);
    const line = (data: Record<string, string | null>) =>
      columns.map((c) => copyField(data[c] ?? null)).join('\t');
    // Request 1 as stored (at the copy's own LSN, so the table looks like a first load) and a new one.
    const chunk = () =>
      Readable.from([`${line(stored.data)}\n${line({ ...stored.data, req_id: '999', title: 'New' })}\n`]);
    const versions = async () =>
      (
        await fx.state.query<{ id: string; version: string }>(
          `select id, version::text from approval_cdc.instance order by id`,
        )
      ).rows;
    const before = await versions();
    const loader = new SnapshotLoader(
      fx.state,
      fx.settings.stateSchema,
      fx.mappings,
      fx.settings.slotName,
      new Map([['oa.requests', ['req_id']]]),
    );
    const session = await loader.session();
    const spec = { table: 'oa.requests', columns, keyColumns: ['req_id'] };
    const progress = () => ({ table: { done: false, lastKey: null, rows: 0 } });
    try {
      await expect(session.loadChunk(spec, chunk(), BigInt(stored.lsn), progress)).rejects.toBeInstanceOf(
        ChunkRetry,
      );
      // Rolled back: nothing of the chunk is stored.
      const early = await fx.state.query(`select 1 from approval_cdc.row_image where pk = '["999"]'`);
      expect(early.rowCount).toBe(0);
      // The same session merges it: request 999 stored and its instance made, request 1 left alone.
      const result = await session.loadChunk(spec, chunk(), BigInt(stored.lsn), progress);
      expect(result).toMatchObject({ rows: 2, lastKey: ['999'] });
    } finally {
      session.release();
    }
    const after = await versions();
    expect(after.filter((r) => !before.some((b) => b.id === r.id)).map((r) => r.id)).toEqual([
      '["oa-request","999"]',
    ]);
    for (const b of before) expect(after.find((r) => r.id === b.id)?.version, b.id).toBe(b.version);
  });
});
