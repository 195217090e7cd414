// Faults of the legacy database's own making:
// - a long-running transaction: it writes a request and stays open for 20 s while other transactions
//   commit; the connector must keep up with those (Feishu converges, the slot's confirmed position
//   moves past the open transaction's first change), and the long one's changes arrive after it commits;
// - TRUNCATE of mapped tables: with the default truncate=ignore it is logged and nothing changes in
//   Feishu; with truncate=delete the tasks and CCs leave their lists and the instances end DELETED.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLsn } from '../../src/core/lsn.js';
import { comparable, waitFor, waitForConvergence } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { startConnectorProcess, type ConnectorProcess } from './support/connector-process.js';
import { startFaultFixture, type FaultFixture } from './support/fault-fixture.js';
import { faultLine, seconds, sleep } from './support/fault-line.js';
import { startWorkload, type BackgroundWorkload } from './support/fault-workload.js';
import { checkPushOrder, type AckSampler } from './support/invariants.js';

describe('fault: a long open transaction and TRUNCATE on the legacy database', () => {
  let fx: FaultFixture;
  let conn: ConnectorProcess | undefined;
  let sampler: AckSampler;
  let workload: BackgroundWorkload;

  beforeAll(async () => {
    fx = await startFaultFixture();
    await seedUsers(fx.sql);
    sampler = fx.startAckSampler();
    conn = startConnectorProcess({ env: fx.connectorEnv() });
    workload = startWorkload(fx.sql, { seed: 77, background: false });
  });
  afterAll(async () => {
    await conn?.stop();
    await sampler?.stop();
    await fx?.close();
  });

  const walInsert = async () =>
    parseLsn(
      (await fx.sql.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')).rows[0]?.lsn ??
        '0/0',
    );

  it('keeps up with other transactions while one stays open for 20 s, and delivers it after commit', async () => {
    const started = Date.now();
    await workload.burst(30);
    await waitForConvergence(fx, 60_000);
    const long = new pg.Client({ connectionString: fx.directSourceUrl });
    long.on('error', () => undefined);
    await long.connect();
    await long.query('begin');
    await long.query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
      values (900001, 1, 'Long transaction', 1, 1, 1, 'long', '2026-11-25 08:00:00', '2026-11-25 08:00:00')`);
    await long.query(`insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
      values (9000011, 900001, 1, 'Manager', 2, 0, '2026-11-25 08:00:00', '2026-11-25 08:00:00')`);
    const openedAt = await walInsert();
    const background = startWorkload(fx.sql, { seed: 78, start: 5000, pauseMs: 50 });
    await sleep(12_000);
    await background.stop();
    // While it is open: the others arrive (Feishu matches what is committed) and the slot moves on.
    const convergedWhileOpen = Date.now();
    await waitForConvergence(fx, 30_000);
    const caughtUp = seconds(convergedWhileOpen);
    const confirmedWhileOpen = sampler.last?.confirmed ?? 0n;
    expect(confirmedWhileOpen).toBeGreaterThan(openedAt);
    expect(fx.fake.instance('oa-req-900001')).toBeUndefined();
    await sleep(Math.max(0, 20_000 - (Date.now() - started)));
    await long.query('commit');
    await long.end();
    await waitForConvergence(fx, 60_000);
    expect(fx.fake.instance('oa-req-900001')?.task_list?.length).toBe(1);
    faultLine(
      'long-transaction',
      'one transaction wrote a request + step and stayed open 20s while a background workload committed others',
      'Feishu == committed database while it was open, confirmed_flush_lsn passed its first change, its instance arrived after commit',
      {
        otherTx: background.steps,
        caughtUpWhileOpen: caughtUp,
        confirmedPastOpenTxBytes: confirmedWhileOpen - openedAt,
        instances: fx.fake.instances().length,
        duration: seconds(started),
      },
    );
  });

  it('ignores TRUNCATE with truncate=ignore (logged) and applies it as deletes with truncate=delete', async () => {
    const started = Date.now();
    await workload.burst(20);
    await waitForConvergence(fx, 60_000);
    const before = JSON.stringify(fx.fake.instances().map((i) => comparable(i)));
    const acceptedBefore = fx.fake.counters.pushesAccepted;
    const ccRows = Number(
      (await fx.sql.query<{ n: string }>('select count(*) as n from oa.cc')).rows[0]?.n ?? 0,
    );
    await fx.sql.query('truncate oa.cc');
    const truncatedAt = await walInsert();
    await waitFor(
      () => (sampler.last?.checkpoint ?? 0n) > truncatedAt,
      30_000,
      'the checkpoint to pass the TRUNCATE',
    );
    await sleep(2000);
    const ignoredLogged = conn?.grep(/TRUNCATE of a mapped table ignored/).length ?? 0;
    expect(ignoredLogged).toBeGreaterThan(0);
    expect(fx.fake.counters.pushesAccepted).toBe(acceptedBefore);
    expect(JSON.stringify(fx.fake.instances().map((i) => comparable(i)))).toBe(before);

    // The same connector restarted with truncate=delete.
    await conn?.stop();
    conn = startConnectorProcess({ env: fx.connectorEnv({ APPROVAL_CDC_TRUNCATE: 'delete' }) });
    // The CCs ignored above are still in the replica and in Feishu: no convergence until the next
    // TRUNCATE is applied (by design of truncate=ignore).
    await workload.burst(20);
    await fx.sql.query(`insert into oa.cc (cc_no, req_id, user_no, created_at, updated_at)
      select 800000 + req_id, req_id, 3, '2026-11-25 09:00:00', '2026-11-25 09:00:00' from oa.requests`);
    await sleep(3000);
    await fx.sql.query('truncate oa.cc, oa.steps');
    await waitForConvergence(fx, 90_000);
    const withTasks = fx.fake
      .instances()
      .filter((i) => (i.task_list?.length ?? 0) > 0 || (i.cc_list?.length ?? 0) > 0).length;
    expect(withTasks).toBe(0);

    // Rows written earlier in the same batch as a TRUNCATE (here: the same transaction) must be
    // truncated too (they were once only in the writer's memory and survived). Checked after the
    // FAULT line.
    await fx.sql.query(`begin;
      insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
        values (910001, 1, 'Truncated in the same transaction', 1, 1, 1, 'x', '2026-11-25 10:00:00', '2026-11-25 10:00:00');
      insert into oa.cc (cc_no, req_id, user_no, created_at, updated_at) values (910001, 910001, 4, '2026-11-25 10:00:00', '2026-11-25 10:00:00');
      truncate oa.cc;
      commit;`);
    let sameBatchTruncate = 'ok';
    await waitForConvergence(fx, 20_000).catch((e: unknown) => {
      sameBatchTruncate = `FAILED: ${String(e).split('\n')[0] ?? ''}; Feishu cc_list of oa-req-910001 = ${JSON.stringify(fx.fake.instance('oa-req-910001')?.cc_list?.map((c) => c.cc_id))}`;
    });

    const requests = Number(
      (await fx.sql.query<{ n: string }>('select count(*) as n from oa.requests')).rows[0]?.n ?? 0,
    );
    await fx.sql.query('truncate oa.requests');
    await waitFor(
      async () => fx.fake.instances().every((i) => i.status === 'DELETED'),
      90_000,
      'every instance to be DELETED',
    );
    const notDeleted = fx.fake.instances().filter((i) => i.status !== 'DELETED').length;
    expect(notDeleted).toBe(0);

    const ack = await sampler.stop();
    const order = checkPushOrder(fx.fake.pushes());
    faultLine(
      'truncate',
      `TRUNCATE oa.cc (${ccRows} rows) with truncate=ignore; then, restarted with truncate=delete, added CCs, TRUNCATE oa.cc, oa.steps; insert+TRUNCATE oa.cc in one transaction; TRUNCATE oa.requests (${requests} rows)`,
      'ignore: logged, no push, Feishu unchanged, checkpoint moved past it; delete: tasks/CCs left every list, every instance DELETED, Feishu == database, update_time never back, confirmed <= checkpoint',
      {
        sameTransactionInsertThenTruncate: sameBatchTruncate,
        ignoreLogLines: ignoredLogged,
        instancesDeleted: fx.fake.instances().length,
        pushesAccepted: order.accepted,
        ackSamples: ack.samples,
        maxLagBytes: ack.maxLagBytes,
        duration: seconds(started),
      },
    );
    expect(ack.violations).toEqual([]);
    expect(order.regressions).toEqual([]);
    expect(sameBatchTruncate).toBe('ok');
  });
});
