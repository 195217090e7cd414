import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstanceTable } from '../../src/replica/instance-table.js';
import { InstanceViews } from '../../src/replica/instance-views.js';
import {
  LEGACY_MAPPINGS,
  startConnectorFixture,
  waitFor,
  waitForConvergence,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import { newWorkloadState, seededRandom, seedUsers, workloadStep } from '../support/legacy-workload.js';

const request = (id: number, applicant: number, at = '2026-11-20 09:00:00') =>
  `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at) values (${id}, 1, 'R${id}', ${applicant}, 1, '${at}', '${at}')`;
const step = (id: number, req: number, approver: number) =>
  `insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at) values (${id}, ${req}, 1, 'N', ${approver}, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00')`;

function acceptedPushes(fx: ConnectorFixture, id: string) {
  return fx.fake.pushes().filter((p) => p.instance_id === id && p.accepted);
}

function updateTimesNeverGoBack(fx: ConnectorFixture): string[] {
  const last = new Map<string, bigint>();
  const problems: string[] = [];
  for (const p of fx.fake.pushes()) {
    if (!p.accepted || !p.instance_id || !p.update_time) continue;
    const t = BigInt(p.update_time);
    const prev = last.get(p.instance_id);
    if (prev !== undefined && t < prev) problems.push(`${p.instance_id}: ${prev} then ${t}`);
    last.set(p.instance_id, t);
  }
  return problems;
}

describe('sync: parking, limits and order', () => {
  let fx: ConnectorFixture;
  let store: InstanceTable;
  let views: InstanceViews;
  beforeAll(async () => {
    fx = await startConnectorFixture();
    await seedUsers(fx.sql);
    await fx.sql.query(
      `insert into oa.users (user_no, login, display_name, feishu_uid) values (99, 'ghost', 'Not in Feishu', null)`,
    );
    store = new InstanceTable((fx.pipeline as any).state.db, fx.settings.stateSchema);
    views = new InstanceViews((fx.pipeline as any).state.db, fx.settings.stateSchema);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('keeps instance 7 parked while instance 8 flows, and retries 7 by itself once its rows change', async () => {
    await fx.sql.query(`${request(7, 1)}; ${step(70, 7, 99)}`);
    await fx.sql.query(`${request(8, 2)}; ${step(80, 8, 3)}`);
    await waitFor(() => fx.fake.instance('oa-req-8'), 20_000, 'instance 8 in Feishu');
    const parked = await waitFor(
      async () => (await views.listParked()).find((p) => p.externalId === 'oa-req-7'),
      20_000,
      'instance 7 parked',
    );
    expect(parked.reason).toMatch(/user_id/);
    expect(fx.fake.instance('oa-req-7')).toBeUndefined();
    await fx.sql.query(`update oa.users set feishu_uid = 'ou_ghost' where user_no = 99`);
    await waitFor(
      () => fx.fake.instance('oa-req-7')?.task_list?.[0]?.user_id === 'ou_ghost',
      20_000,
      'instance 7 pushed after its approver got an id',
    );
    expect(await views.listParked()).toEqual([]);
  });

  it("parks an instance beyond Feishu's task limit without spending a push on it", async () => {
    const steps = Array.from({ length: 301 }, (_, i) => step(10_000 + i, 9, 2)).join(';');
    await fx.sql.query(`begin; ${request(9, 1)}; ${steps}; commit;`);
    const parked = await waitFor(
      async () => (await views.listParked()).find((p) => p.externalId === 'oa-req-9'),
      20_000,
      'instance 9 parked',
    );
    expect(parked.reason).toContain('task_list has 301 entries');
    expect(fx.fake.pushes().filter((p) => p.instance_id === 'oa-req-9')).toEqual([]);
    // Dropping gives up on that version; retry un-parks it (it parks again, the rows are unchanged).
    expect(await store.dropParked(['oa-req-9'])).toBe(1);
    expect(await views.listParked()).toEqual([]);
  });

  it('sends a strictly increasing update_time even when the legacy timestamp goes backwards', async () => {
    await fx.sql.query(`${request(10, 1, '2026-11-20 12:00:00')}; ${step(100, 10, 2)}`);
    await waitFor(() => acceptedPushes(fx, 'oa-req-10').length === 1, 20_000, 'first push of 10');
    const first = BigInt(acceptedPushes(fx, 'oa-req-10')[0]?.update_time ?? '0');
    await fx.sql.query(
      `update oa.requests set title = 'earlier clock', updated_at = '2026-11-20 08:00:00' where req_id = 10`,
    );
    await waitFor(() => acceptedPushes(fx, 'oa-req-10').length === 2, 20_000, 'second push of 10');
    await fx.sql.query(
      `update oa.requests set title = 'same clock', updated_at = '2026-11-20 08:00:00' where req_id = 10`,
    );
    await waitFor(() => acceptedPushes(fx, 'oa-req-10').length === 3, 20_000, 'third push of 10');
    const times = acceptedPushes(fx, 'oa-req-10').map((p) => BigInt(p.update_time ?? '0'));
    expect(times[0]).toBe(first);
    expect((times[1] as bigint) > (times[0] as bigint)).toBe(true);
    expect((times[2] as bigint) > (times[1] as bigint)).toBe(true);
  });
});

describe('sync under Feishu faults', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    fx = await startConnectorFixture({ settings: { syncConcurrency: 8 } });
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('converges under 5xx, 1395001, resets, latency and token expiry, never going back in update_time', async () => {
    fx.fake.faults.set({
      seed: 7,
      errorRate: 0.2,
      error: { status: 503 },
      resetRate: 0.1,
      latencyMs: [0, 80],
    });
    const random = seededRandom(42);
    const state = newWorkloadState(1);
    const clock = { minute: 0 };
    // Keep changing rows until the faults were hit: how many pushes 60 steps make depends on batching
    // and coalescing, so a fixed number of steps can end before the fake injected anything.
    for (let i = 0; i < 60; i++) await workloadStep(fx.sql, state, random, clock);
    await waitFor(
      async () => {
        // Faults hit any request (tokens, checks, cards): wait for a push that got one.
        if (fx.fake.pushes().some((p) => p.httpStatus === 503) && fx.fake.counters.injectedResets >= 1)
          return true;
        await workloadStep(fx.sql, state, random, clock);
        return false;
      },
      30_000,
      '503s and resets',
    );
    fx.fake.faults.expireTokens();
    const before = fx.fake.counters.injectedErrors;
    fx.fake.faults.set({
      seed: 8,
      errorRate: 0.3,
      error: { status: 400, code: 1395001 },
      latencyMs: [0, 50],
    });
    for (let i = 0; i < 60; i++) await workloadStep(fx.sql, state, random, clock);
    await waitFor(
      async () => {
        if (fx.fake.counters.injectedErrors >= before + 3 && fx.fake.pushes().some((p) => p.code === 1395001))
          return true;
        await workloadStep(fx.sql, state, random, clock);
        return false;
      },
      30_000,
      '1395001 answers',
    );
    fx.fake.faults.clear();
    await waitForConvergence(fx, 60_000);
    expect(updateTimesNeverGoBack(fx)).toEqual([]);
    expect(fx.fake.pushes().some((p) => p.httpStatus === 503)).toBe(true);
    expect(fx.fake.pushes().some((p) => p.code === 1395001)).toBe(true);
  });

  it('finishes a push in flight on stop and leaves an unaccepted one pending for the next start', async () => {
    fx.fake.faults.set({ latencyMs: 1500 });
    await fx.sql.query(`${request(9001, 1)}; ${step(90010, 9001, 2)}`);
    // Its own push: an instance the previous test left in backoff may be in flight instead.
    await waitFor(
      () => fx.pipeline?.sync?.inFlightExternalIds.includes('oa-req-9001'),
      10_000,
      'the push of 9001 in flight',
    );
    await fx.stopPipeline();
    // What Feishu answered each push of 9001, should it be missing (CI once saw it missing).
    const answers = fx.fake
      .pushes()
      .filter((p) => p.instance_id === 'oa-req-9001')
      .map((p) => `${p.httpStatus}/${p.code ?? '-'}`);
    expect(fx.fake.instance('oa-req-9001'), `answers: ${answers.join(', ') || 'no push'}`).toBeDefined();
    const accepted = await fx.state.query(
      `select version, synced_version from approval_cdc.instance where external_id = 'oa-req-9001'`,
    );
    expect(accepted.rows[0].synced_version).toBe(accepted.rows[0].version);

    fx.fake.faults.set({ down: true });
    await fx.startPipeline();
    await fx.sql.query(`update oa.requests set title = 'while Feishu is down' where req_id = 9001`);
    await waitFor(
      async () => {
        const r = await fx.state.query(
          `select version > synced_version as dirty, attempts from approval_cdc.instance where external_id = 'oa-req-9001'`,
        );
        return r.rows[0].dirty && r.rows[0].attempts > 0;
      },
      20_000,
      'a failed attempt',
    );
    await fx.stopPipeline();
    const pending = await fx.state.query(
      `select version > synced_version as dirty from approval_cdc.instance where external_id = 'oa-req-9001'`,
    );
    expect(pending.rows[0].dirty).toBe(true);
    fx.fake.faults.clear();
    await fx.startPipeline();
    await waitForConvergence(fx, 30_000);
  });
});

describe('sync options', () => {
  it('refuses to start, before its slot exists, when Feishu refuses the credentials', async () => {
    const fx = await startConnectorFixture({
      settings: { feishuAppSecret: 'not-the-secret' },
      noPipeline: true,
    });
    try {
      await expect(fx.startPipeline()).rejects.toThrow(/10015|secret/);
      const slot = await fx.sql.query('select 1 from pg_replication_slots where slot_name = $1', [
        fx.settings.slotName,
      ]);
      expect(slot.rowCount).toBe(0);
      expect(fx.fake.instances()).toEqual([]);
    } finally {
      await fx.close();
    }
  });

  it('pushes in UPDATE mode when the mapping asks for it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'approval-cdc-map-'));
    const file = join(dir, 'update-mode.yaml');
    writeFileSync(
      file,
      readFileSync(LEGACY_MAPPINGS, 'utf8').replace('update_mode: REPLACE', 'update_mode: UPDATE'),
    );
    const fx = await startConnectorFixture({ mappingsPath: file });
    try {
      await seedUsers(fx.sql);
      await fx.sql.query(`${request(1, 1)}; ${step(10, 1, 2)}`);
      await waitFor(() => fx.fake.instance('oa-req-1'), 20_000, 'instance 1');
      await fx.sql.query(
        `update oa.steps set state_code = 1, updated_at = '2026-11-21 09:00:00', acted_at = '2026-11-21 09:00:00' where step_id = 10`,
      );
      await waitFor(
        () => fx.fake.instance('oa-req-1')?.task_list?.[0]?.status === 'APPROVED',
        20_000,
        'task approved via UPDATE',
      );
      expect(
        fx.fake
          .pushes()
          .filter((p) => p.instance_id === 'oa-req-1')
          .every((p) => p.update_mode === 'UPDATE'),
      ).toBe(true);
    } finally {
      await fx.close();
    }
  });

  it('pushes again what Feishu lost, found by the reconciler through external_instances/check', async () => {
    const fx = await startConnectorFixture({
      settings: { reconcileIntervalMs: 1000, reconcileWindowMs: 120_000 },
    });
    try {
      await seedUsers(fx.sql);
      await fx.sql.query(`${request(1, 1)}; ${step(10, 1, 2)}; ${request(2, 3)}`);
      await waitForConvergence(fx);
      fx.fake.reset();
      expect(fx.fake.instances()).toEqual([]);
      await waitForConvergence(fx, 30_000);
    } finally {
      await fx.close();
    }
  });
});
