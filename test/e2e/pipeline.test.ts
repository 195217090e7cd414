import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLsn } from '../../src/core/lsn.js';
import {
  startConnectorFixture,
  waitFor,
  waitForConvergence,
  type ConnectorFixture,
} from '../support/connector-fixture.js';

describe('legacy Postgres to Feishu, end to end', () => {
  let fx: ConnectorFixture;

  beforeAll(async () => {
    fx = await startConnectorFixture();
    await fx.sql.query(`insert into oa.users (user_no, login, display_name, feishu_uid, dept_code) values
      (1, 'alice', 'Alice', 'ou_alice', 'D1'), (2, 'bob', 'Bob', 'ou_bob', 'D1'), (3, 'carol', 'Carol', 'ou_carol', 'D2')`);
  });
  afterAll(async () => {
    await fx?.close();
  });

  const stored = (id: string) => fx.fake.instance(id);

  it('brings a new request with its steps and CC to Feishu as one instance', async () => {
    await fx.sql.query(`begin;
      insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
        values (101, 1, 'Annual leave', 1, 1, 3.5, 'family trip', '2026-11-20 09:00:00', '2026-11-20 09:00:00');
      insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        values (1001, 101, 1, 'Manager', 2, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00'),
               (1002, 101, 2, 'HR', 3, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00');
      insert into oa.cc (cc_no, req_id, user_no, read_flag, created_at, updated_at)
        values (501, 101, 3, 'N', '2026-11-20 09:00:00', '2026-11-20 09:00:00');
      commit;`);
    await waitForConvergence(fx);
    const inst = stored('oa-req-101');
    expect(inst?.status).toBe('PENDING');
    expect(inst?.approval_code).toBe('leave');
    expect(inst?.user_id).toBe('ou_alice');
    // 2026-11-20 09:00 in Asia/Shanghai is 01:00 UTC.
    expect(inst?.start_time).toBe(String(Date.UTC(2026, 10, 20, 1, 0, 0)));
    expect(inst?.task_list?.map((t) => [t.task_id, t.status, t.user_id])).toEqual([
      ['oa-step-1001', 'PENDING', 'ou_bob'],
      ['oa-step-1002', 'PENDING', 'ou_carol'],
    ]);
    expect(inst?.cc_list?.map((c) => [c.cc_id, c.read_status])).toEqual([['oa-cc-501', 'UNREAD']]);
  });

  it('carries updates of steps, CCs and the request through', async () => {
    await fx.sql.query(
      `update oa.steps set state_code = 1, acted_at = '2026-11-21 10:00:00', updated_at = '2026-11-21 10:00:00' where step_id = 1001`,
    );
    await fx.sql.query(
      `update oa.cc set read_flag = 'Y', updated_at = '2026-11-21 10:05:00' where cc_no = 501`,
    );
    await waitForConvergence(fx);
    expect(stored('oa-req-101')?.task_list?.[0]?.status).toBe('APPROVED');
    expect(stored('oa-req-101')?.cc_list?.[0]?.read_status).toBe('READ');
    await fx.sql
      .query(`update oa.steps set state_code = 1, acted_at = '2026-11-22 10:00:00', updated_at = '2026-11-22 10:00:00' where step_id = 1002;
      update oa.requests set status_code = 2, finished_at = '2026-11-22 10:00:00', updated_at = '2026-11-22 10:00:00' where req_id = 101`);
    await waitForConvergence(fx);
    expect(stored('oa-req-101')?.status).toBe('APPROVED');
    expect(stored('oa-req-101')?.end_time).toBe(String(Date.UTC(2026, 10, 22, 2, 0, 0)));
  });

  it('removes a deleted step and a deleted CC from their lists, and marks a deleted request DELETED', async () => {
    await fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        values (102, 2, 'Taxi', 2, 1, '2026-11-23 08:00:00', '2026-11-23 08:00:00');
      insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        values (1003, 102, 1, 'Manager', 1, 0, '2026-11-23 08:00:00', '2026-11-23 08:00:00'),
               (1004, 102, 2, 'Finance', 3, 0, '2026-11-23 08:00:00', '2026-11-23 08:00:00');
      insert into oa.cc (cc_no, req_id, user_no, created_at) values (502, 102, 1, '2026-11-23 08:00:00');`);
    await waitForConvergence(fx);
    expect(stored('oa-req-102')?.task_list).toHaveLength(2);
    await fx.sql.query(`delete from oa.steps where step_id = 1004; delete from oa.cc where cc_no = 502`);
    await waitForConvergence(fx);
    expect(stored('oa-req-102')?.task_list?.map((t) => t.task_id)).toEqual(['oa-step-1003']);
    expect(stored('oa-req-102')?.cc_list ?? []).toEqual([]);
    await fx.sql.query(`delete from oa.steps where req_id = 102; delete from oa.requests where req_id = 102`);
    await waitFor(() => stored('oa-req-102')?.status === 'DELETED', 20_000, 'request 102 DELETED');
    await waitForConvergence(fx);
  });

  it('keeps a TOASTed detail column that an update leaves unchanged', async () => {
    // Incompressible text, so Postgres stores it out of line and omits it from updates that leave it be.
    const doc = Array.from({ length: 4000 }, (_, i) => ((i * 2654435761) % 4294967296).toString(36)).join(
      ' ',
    );
    await fx.sql.query(
      `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, detail_doc, submitted_at, updated_at)
      values (103, 3, 'Laptop', 3, 1, $1, '2026-11-24 08:00:00', '2026-11-24 08:00:00')`,
      [doc],
    );
    await waitForConvergence(fx);
    const { rows } = await fx.sql.query(
      `select pg_column_size(detail_doc) as size, octet_length(detail_doc) as len from oa.requests where req_id = 103`,
    );
    expect(Number(rows[0].size)).toBeGreaterThan(2000); // stored out of line (TOAST), not inline
    await fx.sql.query(
      `update oa.requests set status_code = 3, finished_at = '2026-11-24 09:00:00', updated_at = '2026-11-24 09:00:00' where req_id = 103`,
    );
    await waitFor(() => stored('oa-req-103')?.status === 'REJECTED', 20_000, 'request 103 REJECTED');
    await waitForConvergence(fx);
    const texts = new Map(
      stored('oa-req-103')?.i18n_resources.flatMap((r) => r.texts.map((t) => [t.key, t.value] as const)),
    );
    const values = (stored('oa-req-103')?.form ?? []).map((f) => texts.get(f.value) ?? f.value);
    expect(values.some((v) => v.startsWith(doc.slice(0, 200)))).toBe(true);
  });

  it("reaches every instance of a user when that user's Feishu id changes (lookup)", async () => {
    await fx.sql.query(`update oa.users set feishu_uid = 'ou_alice_2' where user_no = 1`);
    await waitFor(
      () => stored('oa-req-101')?.user_id === 'ou_alice_2',
      20_000,
      'request 101 to show the new initiator id',
    );
    await waitForConvergence(fx);
  });

  it("advances the slot's confirmed_flush_lsn on a workload of unmapped tables alone", async () => {
    const before = await fx.sql.query(`select pg_current_wal_insert_lsn()::text as lsn`);
    await fx.sql.query(
      `insert into oa.audit_log (message) select 'noise ' || g from generate_series(1, 5000) g`,
    );
    const after = parseLsn(
      (await fx.sql.query(`select pg_current_wal_insert_lsn()::text as lsn`)).rows[0].lsn,
    );
    expect(after).toBeGreaterThan(parseLsn(before.rows[0].lsn));
    await waitFor(
      async () => {
        const { rows } = await fx.sql.query(
          `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1`,
          [fx.settings.slotName],
        );
        return parseLsn(rows[0].lsn) >= after;
      },
      20_000,
      'confirmed_flush_lsn to pass the unmapped workload',
    );
  });
});
