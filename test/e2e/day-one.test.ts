// What a new user meets on day one, before anything streams: the Feishu credentials and approval
// definitions are checked before a slot exists, and the slot's gauges tell the truth while the
// initial copy runs.
import { afterEach, describe, expect, it } from 'vitest';
import { setup } from '../../src/cli/setup.js';
import { loadSettings } from '../../src/config/settings.js';
import { describeError } from '../../src/errors.js';
import { FeishuClient } from '../../src/feishu/feishu-client.js';
import { runDoctorChecks } from '../../src/ops/doctor-checks.js';
import { createLogger } from '../../src/core/logger.js';
import { createMetrics } from '../../src/observe/metrics.js';
import { Pipeline } from '../../src/pipeline.js';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';
import { rawGet } from '../support/fake-http.js';
import { seedUsers } from '../support/legacy-workload.js';

const logger = createLogger('silent');
let fx: ConnectorFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const slotExists = async (f: ConnectorFixture) =>
  (await f.sql.query('select 1 from pg_replication_slots where slot_name = $1', [f.settings.slotName]))
    .rowCount === 1;

describe('day one', () => {
  it('refuses a wrong app secret in setup and run before any slot exists', async () => {
    fx = await startConnectorFixture({ noPipeline: true });
    const wrong = loadSettings({ overrides: { ...fx.settings, feishuAppSecret: 'not-the-secret' } });
    await expect(setup(wrong, fx.mappings, logger)).rejects.toThrow(/FEISHU_TOKEN|tenant_access_token/);
    const pipeline = new Pipeline({ settings: wrong, mappings: fx.mappings, logger });
    const started = await pipeline.start().then(
      () => 'started',
      (e: unknown) => describeError(e),
    );
    await pipeline.stop();
    expect(started).toMatch(/FEISHU_TOKEN/);
    expect(await slotExists(fx)).toBe(false);
    const none = loadSettings({ overrides: { ...fx.settings, feishuAppSecret: undefined } });
    await expect(setup(none, fx.mappings, logger)).rejects.toThrow(/APPROVAL_CDC_FEISHU_APP_SECRET/);
    expect(await slotExists(fx)).toBe(false);
  });

  it('has doctor name the approval code Feishu does not know', async () => {
    // The example mapping pushes leave, expense and purchase; this tenant lacks purchase.
    fx = await startConnectorFixture({ noPipeline: true, fake: { approvalCodes: ['leave', 'expense'] } });
    const findings = await runDoctorChecks({ settings: fx.settings, mappings: fx.mappings });
    const codes = findings.filter((f) => f.id.startsWith('approval-code:'));
    expect(codes.map((f) => [f.id, f.ok, f.severity])).toEqual([
      ['approval-code:expense', true, 'info'],
      ['approval-code:leave', true, 'info'],
      ['approval-code:purchase', false, 'error'],
    ]);
    expect(codes[2]?.finding).toContain('purchase');
  });

  it('answers the definition lookup in the fake as Feishu does', async () => {
    fx = await startConnectorFixture({ noPipeline: true, fake: { approvalCodes: ['leave'] } });
    const client = new FeishuClient({
      baseUrl: fx.fake.url,
      appId: fx.fake.appId,
      appSecret: fx.fake.appSecret,
    });
    try {
      expect(await client.approvalExists('leave')).toBe(true);
      expect(await client.approvalExists('purchase')).toBe(false);
    } finally {
      await client.close();
    }
    // Without a token the gateway refuses it like every other endpoint.
    const anonymous = await rawGet(fx.fake, '/open-apis/approval/v4/external_approvals/leave');
    expect(anonymous.body.code).toBe(99991661);
  });

  it("reports the slot's retained WAL and safe_wal_size during the initial copy, NaN before the slot", async () => {
    fx = await startConnectorFixture({ noPipeline: true });
    await seedUsers(fx.sql, 20);
    await fx.sql.query(
      `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
       select g, 1, 'r' || g, 1, 1, now(), now() from generate_series(1, 400) g`,
    );
    const seen: { retained: number; safe: number }[] = [];
    let asked = false;
    const metrics = createMetrics();
    const value = async (name: 'slotRetainedBytes' | 'slotSafeWalBytes') =>
      (await metrics[name].get()).values[0]?.value ?? Number.NaN;
    const pipeline = new Pipeline({
      settings: fx.settings,
      mappings: fx.mappings,
      logger,
      metrics,
      snapshotPageSize: 100,
      afterSnapshotPage: async () => {
        // Once: tables are copied in parallel, so two pages can end while the first waits here.
        if (asked) return;
        asked = true;
        // Wait for a sample taken after the slot was made (the probe samples every 2 s).
        await waitFor(async () => Number.isFinite(await value('slotRetainedBytes')), 10_000, 'a slot sample');
        seen.push({ retained: await value('slotRetainedBytes'), safe: await value('slotSafeWalBytes') });
      },
    });
    expect(Number.isNaN(await value('slotRetainedBytes'))).toBe(true);
    try {
      await pipeline.start();
    } finally {
      await pipeline.stop();
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]?.retained).toBeGreaterThan(0);
    // The test server has no max_slot_wal_keep_size: unlimited reads -1, never 0.
    expect(seen[0]?.safe).toBe(-1);
  });
});
