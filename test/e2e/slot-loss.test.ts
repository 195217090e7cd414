import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDatabase, type TestDatabase } from '../support/test-database.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/throwaway-postgres.js';
import {
  startConnectorFixture,
  waitFor,
  waitForConvergence,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { renderStatusText } from '../../src/cli/status.js';
import { gatherStatus } from '../../src/ops/status-report.js';
import { openStateDb } from '../../src/replica/state-db.js';

// A cluster of its own: invalidating slots with max_slot_wal_keep_size would hit other test files.
describe('a lost replication slot', () => {
  let cluster: ThrowawayPostgres;
  let admin: pg.Client;
  let fx: ConnectorFixture;

  beforeAll(async () => {
    cluster = await startThrowawayPostgres({
      max_wal_size: '32MB',
      min_wal_size: '32MB',
      wal_keep_size: '0',
    });
    admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('create database slotloss');
    const database: TestDatabase = {
      name: 'slotloss',
      url: withDatabase(cluster.url, 'slotloss'),
      drop: async () => undefined,
    };
    fx = await startConnectorFixture({ database });
    await seedUsers(fx.sql);
    await fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
      select g, 1, 'R' || g, g, 1, '2026-11-01', '2026-11-01' from generate_series(1, 5) g`);
    await waitForConvergence(fx);
  });
  afterAll(async () => {
    await fx?.close();
    await admin?.end();
    await cluster?.stop();
  });

  /** What `approval-cdc status` reports now, and its text. */
  const status = async () => {
    const state = openStateDb(fx.settings.stateUrl, fx.settings.stateSchema);
    const source = await fx.sql.connect();
    try {
      const report = await gatherStatus({
        state: { db: state.db, schema: fx.settings.stateSchema },
        source,
        slot: fx.settings.slotName,
      });
      return { report, text: renderStatusText(report) };
    } finally {
      source.release();
      await state.close();
    }
  };

  const slotStatus = async () =>
    (
      await fx.sql.query(`select wal_status from pg_replication_slots where slot_name = $1`, [
        fx.settings.slotName,
      ])
    ).rows[0]?.wal_status as string | undefined;

  it('is detected at start when invalidated by max_slot_wal_keep_size, reported plainly, and recovered by a re-snapshot without a gap', async () => {
    await fx.stopPipeline();
    await admin.query(`alter system set max_slot_wal_keep_size = '1MB'`);
    await admin.query('select pg_reload_conf()');
    // Changes the connector misses while its slot is being lost.
    await fx.sql.query(
      `update oa.requests set status_code = 2, finished_at = '2026-11-02', updated_at = '2026-11-02' where req_id = 1`,
    );
    await fx.sql.query(`delete from oa.requests where req_id = 2`);
    await fx.sql.query(
      `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at) values (6, 1, 'R6', 6, 1, '2026-11-03', '2026-11-03')`,
    );
    await waitFor(
      async () => {
        await fx.sql.query(
          `insert into oa.audit_log (message) select repeat(md5(g::text), 64) from generate_series(1, 4000) g`,
        );
        await fx.sql.query('select pg_switch_wal()');
        await fx.sql.query('checkpoint');
        return (await slotStatus()) === 'lost';
      },
      60_000,
      'the slot to be lost',
    );
    await admin.query('alter system reset max_slot_wal_keep_size');
    await admin.query('select pg_reload_conf()');

    await expect(fx.startPipeline()).rejects.toThrow(/was invalidated.*setup --resnapshot/);
    await fx.stopPipeline();
    // status says the slot is lost (not "safe_wal_size unlimited") and why the connector stopped.
    const lost = await status();
    expect(lost.report.slot?.walStatus).toBe('lost');
    expect(lost.text).toMatch(/slot state +LOST: .*setup --resnapshot/);
    expect(lost.text).toMatch(/safe_wal_size +none \(the slot is lost\)/);
    expect(lost.report.connector?.lastFailure?.code).toBe('SOURCE_SLOT_LOST');
    expect(lost.text).toMatch(/FAILED +\S+ SOURCE_SLOT_LOST: replication slot .* was invalidated/);

    await fx.startPipeline({ resnapshot: true });
    await waitForConvergence(fx, 30_000);
    expect(fx.fake.instance('oa-req-1')?.status).toBe('APPROVED');
    expect(fx.fake.instance('oa-req-2')?.status).toBe('DELETED');
    expect(fx.fake.instance('oa-req-6')?.status).toBe('PENDING');
  }, 120_000);

  it('is detected while streaming when dropped, stops the connector with the fix, and a re-snapshot recovers', async () => {
    const pipeline = fx.pipeline;
    expect(pipeline).not.toBeNull();
    const failure = pipeline?.done.then(
      () => 'stopped without an error',
      (e: unknown) => String(e),
    );
    await waitFor(
      async () => {
        await fx.sql.query(
          `select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = $1 and active_pid is not null`,
          [fx.settings.slotName],
        );
        const r = await fx.sql
          .query(`select pg_drop_replication_slot($1)`, [fx.settings.slotName])
          .then(() => true)
          .catch(() => false);
        return r;
      },
      20_000,
      'the slot to be dropped',
    );
    await fx.sql.query(`update oa.requests set title = 'after the slot vanished' where req_id = 3`);
    expect(await failure).toMatch(/SOURCE_SLOT_MISSING|does not exist/);
    await fx.stopPipeline();
    const missing = await status();
    expect(missing.report.connector?.stoppedAt).not.toBeNull();
    expect(missing.report.connector?.lastFailure?.code).toBe('SOURCE_SLOT_MISSING');
    await expect(fx.startPipeline()).rejects.toThrow(/is gone .*setup --resnapshot/);
    await fx.stopPipeline();
    await fx.startPipeline({ resnapshot: true });
    await waitForConvergence(fx, 30_000);
  }, 120_000);
});
