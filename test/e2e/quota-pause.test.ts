// The monthly quota (99991403, HTTP 429 like the rate limit but not one): pushing pauses with no
// retry loop, status, /readyz and the metric say why and until when, and pushing resumes on
// `approval-cdc resume` or, by a probe, once the fake's quota renews.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatherStatus } from '../../src/ops/status-report.js';
import { openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { requestResume } from '../../src/sync/quota-watch.js';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';

describe('the monthly quota pauses pushing until it renews or an operator resumes', () => {
  let fx: ConnectorFixture;
  let state: StateConnection;
  const pushesOf = (id: string) => fx.fake.pushes().filter((p) => p.instance_id === id);
  const request = (id: number, at: string) =>
    fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
      values (${id}, 1, 'Request ${id}', 1, 1, '${at}', '${at}')`);
  const status = () =>
    gatherStatus({
      state: { db: state.db, schema: fx.settings.stateSchema },
      source: { error: 'not needed' },
      slot: fx.settings.slotName,
    });

  beforeAll(async () => {
    // A probe an hour apart: during the test the pause makes no approval call at all.
    fx = await startConnectorFixture({
      settings: { quotaProbeIntervalMs: 3_600_000, reconcileIntervalMs: 0 },
    });
    state = openStateDb(fx.stateUrl, fx.settings.stateSchema, { max: 1 });
    await fx.sql.query(
      `insert into oa.users (user_no, login, display_name, feishu_uid) values (1, 'alice', 'Alice', 'ou_alice')`,
    );
  });
  afterAll(async () => {
    await state?.close();
    await fx?.close();
  });

  it('pauses at the first 99991403 and makes no further approval call', async () => {
    await request(101, '2026-11-20 09:00:00');
    await waitFor(() => fx.fake.instance('oa-req-101'), 20_000, 'oa-req-101 pushed');
    fx.fake.faults.set({ quotaExhausted: 99991403 });
    await request(102, '2026-11-20 09:01:00');
    await request(103, '2026-11-20 09:02:00');
    const gate = fx.pipeline?.sync?.gate;
    await waitFor(() => gate?.state.state === 'stopped', 20_000, 'the gate to stop');
    expect(gate?.state).toMatchObject({ state: 'stopped', code: '99991403' });
    // Pushes that started before the first refusal may still be on their way: let them end.
    await waitFor(() => fx.pipeline?.sync?.inFlightCount === 0, 20_000, 'pushes in flight to end');
    const calls = fx.fake.pushes().length;
    const refusedBefore = fx.fake.quota.refused;
    await new Promise((r) => setTimeout(r, 3000));
    expect(fx.fake.pushes().length).toBe(calls);
    expect(fx.fake.quota.refused).toBe(refusedBefore);
    expect(fx.fake.instance('oa-req-102')).toBeUndefined();
  });

  it('says why and until when in status, /readyz and the metric, and counts the calls of the month', async () => {
    const report = await status();
    expect(report.pushing?.state).toBe('stopped');
    expect(report.pushing?.code).toBe('99991403');
    expect(report.pushing?.reason).toMatch(
      /99991403 This month's API call quota has been exceeded; pushing paused until the quota renews \(\d{4}-\d{2}-01, China time\) or `approval-cdc resume`/,
    );
    expect(report.feishuCalls?.used).toBeGreaterThanOrEqual(1);
    const ready = await fx.pipeline?.readiness();
    expect(ready?.ready).toBe(false);
    expect(JSON.stringify(ready?.checks)).toContain('99991403');
    const metrics = await fx.pipeline?.metrics.registry.metrics();
    expect(metrics).toMatch(/approval_cdc_quota_paused 1/);
    expect(metrics).toMatch(/approval_cdc_pushing_stopped\{code="99991403"\} 1/);
  });

  it('resumes on approval-cdc resume once the tenant has quota again', async () => {
    fx.fake.faults.set({ quotaExhausted: null });
    await requestResume(state.db, fx.settings.stateSchema, fx.settings.slotName);
    await waitFor(
      () => fx.fake.instance('oa-req-102') && fx.fake.instance('oa-req-103'),
      20_000,
      'the paused instances to be pushed after resume',
    );
    expect(fx.pipeline?.sync?.gate.running).toBe(true);
    expect(await fx.pipeline?.metrics.registry.metrics()).toMatch(/approval_cdc_quota_paused 0/);
  });

  it('resumes by itself when a probe finds the quota renewed', async () => {
    await fx.stopPipeline();
    await fx.startPipeline({ settings: { ...fx.settings, quotaProbeIntervalMs: 1000 } });
    fx.fake.faults.set({ quotaExhausted: 99991403 });
    await request(104, '2026-11-20 09:03:00');
    await waitFor(() => fx.pipeline?.sync?.gate.state.state === 'stopped', 20_000, 'the gate to stop');
    expect(pushesOf('oa-req-104').every((p) => !p.accepted)).toBe(true);
    await fetch(`${fx.fake.url}/_fake/quota/renew`, { method: 'POST' });
    await waitFor(() => fx.fake.instance('oa-req-104'), 20_000, 'oa-req-104 pushed after the renewal');
    // The fake stores the probe before its answer reaches the connector: the gate opens on the answer.
    await waitFor(() => fx.pipeline?.sync?.gate.running, 10_000, 'the gate to open after the probe');
  });
});
