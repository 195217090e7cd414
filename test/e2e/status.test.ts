import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatusJson, renderStatusText } from '../../src/cli/status.js';
import { gatherStatus, type StatusReport } from '../../src/ops/status-report.js';
import { LANE_BACKFILL, LANE_BULK } from '../../src/replica/instance-vocabulary.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const schema = 'status_state';
// Fixed instants: the report's ages are computed against `now`, so they are exact.
const now = new Date('2025-03-01T12:00:00Z');
const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000).toISOString();

describe('status report', () => {
  let db: TestDatabase;
  let state: StateConnection;
  let source: pg.Client;
  let slot: string;

  beforeAll(async () => {
    db = await createTestDatabase('status');
    slot = `status_${db.name}`;
    state = openStateDb(db.url, schema);
    await migrateStateDb(state);
    source = new pg.Client({ connectionString: db.url });
    await source.connect();
    await source.query(
      `insert into ${schema}.checkpoint (slot, lsn, phase, last_commit_at) values ($1, 4096, 'streaming', $2)`,
      [slot, ago(30)],
    );
    const rows: unknown[][] = [
      // id, lane, dirty_since, attempts, last_error, last_error_code, next_attempt_at, parked_at, parked_reason
      ['live-1', 0, ago(10), 0, null, null, null, null, null],
      ['live-2', 0, ago(90), 0, null, null, null, null, null],
      ['live-3', 0, ago(20), 2, 'HTTP 503 from Feishu', 'FEISHU_HTTP', ago(-5), null, null],
      ['bulk-1', LANE_BULK, ago(45), 0, null, null, null, null, null],
      ['backfill-1', LANE_BACKFILL, ago(600), 0, null, null, null, null, null],
      [
        'parked-1',
        0,
        ago(300),
        1,
        'too many tasks (250 > 200)',
        'PAYLOAD_LIMIT',
        null,
        ago(200),
        'too many tasks (250 > 200)',
      ],
      [
        'parked-2',
        LANE_BACKFILL,
        ago(300),
        1,
        'unknown approval code',
        '1390001',
        null,
        ago(100),
        'unknown approval code',
      ],
    ];
    for (const [id, lane, dirtySince, attempts, err, code, next, parkedAt, reason] of rows) {
      await source.query(
        `insert into ${schema}.instance (id, mapping, key, external_id, version, synced_version, lane, dirty_since,
           attempts, last_error, last_error_code, next_attempt_at, parked_at, parked_reason)
         values ($1, 'leave', '["1"]', $1, 3, 1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [id, lane, dirtySince, attempts, err, code, next, parkedAt, reason],
      );
    }
    await source.query(
      `insert into ${schema}.instance (id, mapping, key, external_id, version, synced_version) values ('synced-1', 'leave', '["9"]', 'synced-1', 4, 4)`,
    );
    await source.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    // WAL written after the slot's creation is WAL the slot has not confirmed. The test server runs
    // with synchronous_commit=off; turning it on here makes the commit write the WAL out, so
    // pg_current_wal_lsn() (the write position) has moved when the report reads it.
    await source.query('set synchronous_commit = on');
    await source.query('create table wal_filler (id int, note text)');
    await source.query(`insert into wal_filler select g, repeat('x', 100) from generate_series(1, 1000) g`);
  });

  afterAll(async () => {
    await source?.end();
    await state?.close();
    await db?.drop();
  });

  const gather = async (): Promise<StatusReport> =>
    gatherStatus({ state: { db: state.db, schema }, source, slot, now });

  it('shows the backlog by lane with the age of the oldest pending change', async () => {
    const report = await gather();
    expect(report.backlog).toEqual([
      { lane: 'live', count: 3, oldestPendingSeconds: 90 },
      { lane: 'bulk', count: 1, oldestPendingSeconds: 45 },
      { lane: 'backfill', count: 1, oldestPendingSeconds: 600 },
    ]);
    expect(report.oldestPendingSeconds).toBe(600);
    expect(report.retrying).toBe(1);
  });

  it('shows parked instances with their reasons, most recent first, and the last errors of retried ones', async () => {
    const report = await gather();
    expect(report.parked.count).toBe(2);
    expect(report.parked.recent.map((p) => [p.externalId, p.message])).toEqual([
      ['parked-2', 'unknown approval code'],
      ['parked-1', 'too many tasks (250 > 200)'],
    ]);
    expect(report.lastErrors).toEqual([
      expect.objectContaining({
        externalId: 'live-3',
        code: 'FEISHU_HTTP',
        message: 'HTTP 503 from Feishu',
        attempts: 2,
      }),
    ]);
  });

  it('shows the checkpoint and the seconds since the last applied commit', async () => {
    const report = await gather();
    expect(report.checkpoint).toMatchObject({ lsn: '0/1000', phase: 'streaming', lastCommitAt: ago(30) });
    expect(report.lagSeconds).toBe(30);
  });

  it('shows the slot lagging by the WAL written since it was confirmed', async () => {
    const report = await gather();
    expect(report.unavailable).toEqual({});
    expect(report.slot).toMatchObject({
      plugin: 'pgoutput',
      active: false,
      activePid: null,
      walStatus: 'reserved',
      safeWalSizeBytes: null,
    });
    expect(report.slot?.lagBytes).toBeGreaterThan(0);
    expect(report.slot?.retainedWalBytes).toBeGreaterThanOrEqual(report.slot?.lagBytes ?? 0);
  });

  it("shows the backfill's instances left, the rate they left at over 5 minutes and the time left", async () => {
    // 30 instances left the backfill lane in the last 5 minutes; live pushes, retries and older
    // pushes do not count.
    await source.query(
      `insert into ${schema}.push_history (at, instance_id, external_id, version, lane, result, code)
       select $1::timestamptz, 'b' || g, 'b' || g, 1, 2, (array['accepted','unchanged','parked'])[1 + g % 3], '0'
         from generate_series(1, 30) g
       union all select $1::timestamptz, 'l' || g, 'l' || g, 1, 0, 'accepted', '0' from generate_series(1, 40) g
       union all select $1::timestamptz, 'r' || g, 'r' || g, 1, 1, 'retry', '500' from generate_series(1, 40) g
       union all select $2::timestamptz, 'o' || g, 'o' || g, 1, 2, 'accepted', '0' from generate_series(1, 40) g`,
      [ago(60), ago(400)],
    );
    try {
      const report = await gather();
      expect(report.backfill).toEqual({
        remaining: 2,
        bulk: 1,
        backfill: 1,
        perSecond: 0.1,
        etaSeconds: 20,
        basis: 'measured',
        windowSeconds: 300,
        budgetPerMinute: 1000,
      });
      expect(renderStatusText(report)).toMatch(
        /backfill\s+2 instances left \(bulk 1, backfill 1\), 0\.1 instances\/s, ETA 20 s\n/,
      );
    } finally {
      await source.query(`delete from ${schema}.push_history`);
    }
  });

  it('renders JSON that parses back to the report, and an aligned text table', async () => {
    const report = await gather();
    expect(JSON.parse(renderStatusJson(report))).toEqual(JSON.parse(JSON.stringify(report)));
    const text = renderStatusText(report);
    expect(text).toMatch(/backlog live\s+3/);
    expect(text).toMatch(/parked\s+2/);
    expect(text).toContain('too many tasks (250 > 200)');
    expect(text).toContain('30.0 s since the last applied commit');
  });

  it('reports a state schema that was never set up and an unreachable source instead of failing', async () => {
    const report = await gatherStatus({
      state: { db: state.db, schema: 'never_set_up' },
      source: { error: 'connect ECONNREFUSED 127.0.0.1:1' },
      slot,
      now,
    });
    expect(report.unavailable.state).toContain('never_set_up');
    expect(report.unavailable.source).toContain('ECONNREFUSED');
    expect(report.checkpoint).toBeNull();
    expect(report.slot).toBeNull();
    expect(renderStatusText(report)).toContain('source database unavailable');
  });
});
