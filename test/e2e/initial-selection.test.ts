import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  settingsEnv,
  startConnectorFixture,
  waitFor,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { cliEntry } from '../support/cli-entry.js';

/** 40 requests: every third one still open (status 1), the others approved; submitted one day apart. */
async function seedHistory(fx: ConnectorFixture): Promise<void> {
  await seedUsers(fx.sql);
  await fx.sql
    .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, finished_at, updated_at)
    select g, 1, 'R' || g, 1 + g % 20, case when g % 3 = 0 then 1 else 2 end,
           '2026-01-01'::timestamp + g * interval '1 day',
           case when g % 3 = 0 then null else '2026-01-01'::timestamp + g * interval '1 day' + interval '1 hour' end,
           '2026-01-01'::timestamp + g * interval '1 day' + interval '1 hour'
    from generate_series(1, 40) g`);
}

const pushedOrder = (fx: ConnectorFixture) =>
  fx.fake
    .pushes()
    .filter((p) => p.accepted)
    .map((p) => Number(p.instance_id?.replace('oa-req-', '')));

/** Waits until Feishu holds `count` instances, then a while longer: the selection must stop there. */
async function settledInstances(fx: ConnectorFixture, count: number) {
  await waitFor(() => fx.fake.instances().length === count, 30_000, `${count} instances`);
  await new Promise((r) => setTimeout(r, 500));
  const instances = fx.fake.instances();
  expect(instances).toHaveLength(count);
  return instances;
}

describe('initial load selection and order', () => {
  it('pushes open approvals first, newest first, then the closed ones newest first', async () => {
    const fx = await startConnectorFixture({ noPipeline: true, settings: { syncConcurrency: 1 } });
    try {
      await seedHistory(fx);
      await fx.startPipeline();
      await waitFor(() => fx.fake.instances().length === 40, 30_000, 'all 40 instances');
      const order = pushedOrder(fx);
      const open = [39, 36, 33, 30, 27, 24, 21, 18, 15, 12, 9, 6, 3];
      expect(order.slice(0, open.length)).toEqual(open);
      const closed = order.slice(open.length);
      expect(closed).toEqual([...closed].sort((a, b) => b - a));
    } finally {
      await fx.close();
    }
  });

  it('with initialLoad=open pushes only open approvals, and a later change to a closed one still arrives', async () => {
    const fx = await startConnectorFixture({ noPipeline: true, settings: { initialLoad: 'open' } });
    try {
      await seedHistory(fx);
      await fx.startPipeline();
      const instances = await settledInstances(fx, 13);
      expect(instances.every((i) => i.status === 'PENDING')).toBe(true);
      await fx.sql.query(
        `update oa.requests set title = 'reopened', status_code = 1, finished_at = null where req_id = 1`,
      );
      await waitFor(
        () => fx.fake.instance('oa-req-1')?.status === 'PENDING',
        20_000,
        'request 1 after its change',
      );
      expect(fx.fake.instances()).toHaveLength(14);
    } finally {
      await fx.close();
    }
  });

  it('applies the selection when `setup` does the initial load before `run`', async () => {
    const fx = await startConnectorFixture({ noPipeline: true, settings: { initialLoad: 'open' } });
    try {
      await seedHistory(fx);
      await promisify(execFile)(process.execPath, [cliEntry(), 'setup'], {
        env: settingsEnv(fx.settings, { APPROVAL_CDC_LOG_LEVEL: 'silent' }),
      });
      await fx.startPipeline();
      await settledInstances(fx, 13);
    } finally {
      await fx.close();
    }
  });

  it('with initialLoadSince pushes only instances changed since that date', async () => {
    // Request g was updated on 2026-01-01 + g days + 1 h (Asia/Shanghai): since 2026-02-05 keeps 35..40.
    const fx = await startConnectorFixture({
      noPipeline: true,
      settings: { initialLoadSince: '2026-02-05T00:00:00+08:00' },
    });
    try {
      await seedHistory(fx);
      await fx.startPipeline();
      const instances = await settledInstances(fx, 6);
      expect(instances.map((i) => i.instance_id).sort()).toEqual([
        'oa-req-35',
        'oa-req-36',
        'oa-req-37',
        'oa-req-38',
        'oa-req-39',
        'oa-req-40',
      ]);
    } finally {
      await fx.close();
    }
  });

  it('with initialLoadWhere pushes only instances whose row matches the filter', async () => {
    const fx = await startConnectorFixture({
      noPipeline: true,
      settings: { initialLoadWhere: 'req_id <= 5' },
    });
    try {
      await seedHistory(fx);
      await fx.startPipeline();
      await settledInstances(fx, 5);
    } finally {
      await fx.close();
    }
  });

  it('refuses to start with an initialLoadWhere that leaves its condition or calls a function, before copying', async () => {
    for (const where of ['true) or (select pg_sleep(1) is null', "nextval('s') > 0"]) {
      const fx = await startConnectorFixture({ noPipeline: true, settings: { initialLoadWhere: where } });
      try {
        await fx.sql.query('create sequence s');
        await expect(fx.startPipeline()).rejects.toMatchObject({
          code: 'CONFIG_INVALID',
          message: expect.stringMatching(/^APPROVAL_CDC_INITIAL_LOAD_WHERE: /),
        });
        const { rows } = await fx.sql.query('select is_called from s');
        expect(rows[0].is_called).toBe(false);
      } finally {
        await fx.close();
      }
    }
  });
});
