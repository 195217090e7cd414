// Fault: one legacy transaction writes 200,000 rows of a mapped table (oa.steps: a bulk import of
// archived approval steps whose requests are gone, plus live requests in the same transaction), and a
// second one deletes them all again. The connector runs as a child process and its RSS is sampled
// from /proc/<pid>/status: memory must stay bounded (DESIGN invariant 5), the whole transaction must
// arrive (the checkpoint passes its commit), and Feishu must equal the database afterwards.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, waitForConvergence } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { parseLsn } from '../../src/core/lsn.js';
import { startConnectorProcess, type ConnectorProcess } from './support/connector-process.js';
import { startFaultFixture, type FaultFixture } from './support/fault-fixture.js';
import { faultLine, seconds } from './support/fault-line.js';
import { startWorkload } from './support/fault-workload.js';
import { checkPushOrder, type AckSampler } from './support/invariants.js';

const ROWS = 200_000;
const MAX_RSS_MB = 400;

describe('fault: a 200,000-row transaction on a mapped table', () => {
  let fx: FaultFixture;
  let conn: ConnectorProcess | undefined;

  beforeAll(async () => {
    fx = await startFaultFixture();
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await conn?.stop();
    await fx?.close();
  });

  const walNow = async () =>
    parseLsn(
      (await fx.sql.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')).rows[0]?.lsn ??
        '0/0',
    );
  const applied = (sampler: AckSampler, lsn: bigint, what: string) =>
    waitFor(() => (sampler.last?.checkpoint ?? 0n) >= lsn, 240_000, `the checkpoint to pass ${what}`);

  const countImages = async () => {
    const state = new pg.Client({ connectionString: fx.directStateUrl });
    await state.connect();
    try {
      const { rows } = await state.query<{ n: number }>(
        `select count(*)::int as n from "${fx.settings.stateSchema}".row_image where tbl = 'oa.steps' and not deleted and (pk::jsonb->>0)::bigint between 10000000 and ${10000000 + ROWS - 1}`,
      );
      return rows[0]?.n ?? 0;
    } finally {
      await state.end();
    }
  };

  it('applies it with bounded memory and converges', async () => {
    const started = Date.now();
    const sampler = fx.startAckSampler(200);
    conn = startConnectorProcess({ env: fx.connectorEnv(), rssSampleMs: 100 });
    const workload = startWorkload(fx.sql, { seed: 55, background: false });
    await workload.burst(40);
    await waitForConvergence(fx, 60_000);
    const baselineRssMb = conn.peakRssKb / 1024;

    // 2,000 archived request ids (their requests were purged) with 100 steps each, and 20 live
    // requests with 2 steps each, in ONE transaction.
    const insertFrom = Date.now();
    await fx.sql.query(`begin;
      insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, opinion, created_at, updated_at)
        select 10000000 + g, 5000000 + g / 100, g % 100, 'Archived node ' || (g % 100), 1 + g % 20, 1, repeat('x', 40),
          '2026-01-01 08:00:00', '2026-01-01 08:00:00'
        from generate_series(0, ${ROWS - 1}) g;
      insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
        select 4000000 + g, 1, 'Bulk live ' || g, 1 + g % 20, 1, 10, 'bulk', '2026-02-01 08:00:00', '2026-02-01 08:00:00'
        from generate_series(1, 20) g;
      insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        select 20000000 + g, 4000000 + (g + 1) / 2, 1 + g % 2, 'Live node', 1 + g % 20, 0, '2026-02-01 08:00:00', '2026-02-01 08:00:00'
        from generate_series(1, 40) g;
      commit;`);
    const insertLsn = await walNow();
    await applied(sampler, insertLsn, 'the 200,000-row insert');
    const insertApply = seconds(insertFrom);
    // Invariant 1 seen from the replica: once the checkpoint covers the commit, every row is in it.
    const imagesAtCheckpoint = await countImages();
    await waitForConvergence(fx, 120_000);

    const deleteFrom = Date.now();
    await fx.sql.query(`delete from oa.steps where step_id between 10000000 and ${10000000 + ROWS - 1}`);
    const deleteLsn = await walNow();
    await applied(sampler, deleteLsn, 'the 200,000-row delete');
    const deleteApply = seconds(deleteFrom);
    await workload.burst(10);
    await waitForConvergence(fx, 120_000);

    const ack = await sampler.stop();
    expect(imagesAtCheckpoint, 'row images in the replica when the checkpoint passed the commit').toBe(ROWS);
    const order = checkPushOrder(fx.fake.pushes());
    const peakMb = conn.peakRssKb / 1024;
    expect(conn.selfExits).toEqual([]);
    expect(peakMb).toBeGreaterThan(0);
    expect(peakMb).toBeLessThan(MAX_RSS_MB);
    expect(ack.violations).toEqual([]);
    expect(order.regressions).toEqual([]);
    faultLine(
      'big-transaction',
      `one ${ROWS}-row insert transaction into oa.steps (+20 live requests), then one ${ROWS}-row delete, connector as a child process`,
      `peak RSS < ${MAX_RSS_MB} MB, checkpoint passed both commits, Feishu == database, update_time never back, confirmed <= checkpoint`,
      {
        rows: ROWS,
        imagesWhenCheckpointPassedCommit: imagesAtCheckpoint,
        peakRssMb: peakMb.toFixed(0),
        rssBeforeBulkMb: baselineRssMb.toFixed(0),
        insertApplied: insertApply,
        deleteApplied: deleteApply,
        maxLagBytes: ack.maxLagBytes,
        instances: fx.fake.instances().length,
        pushesAccepted: order.accepted,
        duration: seconds(started),
      },
    );
  });
});
