import { describe, expect, it } from 'vitest';
import { startConnectorFixture, waitFor } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

describe('live changes during a backfill', () => {
  it('reach Feishu long before a backlog that the budget paces', async () => {
    // A small budget (120/min) so the backfill of 300 instances takes minutes, not seconds.
    const fx = await startConnectorFixture({
      noPipeline: true,
      settings: { ratePerMinute: 120, ratePerSecond: 10 },
      fake: { perMinute: 120, perSecond: 10 },
    });
    try {
      await seedUsers(fx.sql);
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        select g, 1, 'old ' || g, 1 + g % 20, 2, '2025-01-01', '2025-01-01' from generate_series(1, 300) g`);
      await fx.startPipeline();
      await waitFor(() => fx.fake.instances().length >= 1, 30_000, 'the first backfill push');
      const firstPush = Date.now();
      await waitFor(() => fx.fake.instances().length >= 10, 30_000, 'the backfill to start');
      // Long enough after its first push for an unpaced backfill to have spent the whole minute
      // budget in a burst (12 s at 10/s), which would leave a live change waiting for the window to
      // roll over.
      await new Promise((r) => setTimeout(r, Math.max(0, firstPush + 14_000 - Date.now())));
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        values (9001, 1, 'live', 1, 1, '2026-11-25 10:00:00', '2026-11-25 10:00:00')`);
      await fx.sql.query(`update oa.requests set title = 'live update of an old one' where req_id = 300`);
      await waitFor(() => fx.fake.instance('oa-req-9001'), 20_000, 'the live request');
      await waitFor(
        () => fx.fake.pushes().some((p) => p.instance_id === 'oa-req-300' && p.accepted),
        20_000,
        'the live update',
      );
      // When both live changes are in Feishu, most of the backlog still waits: they did not queue behind it.
      expect(fx.fake.instances().length).toBeLessThan(120);
      expect(fx.fake.counters.tooManyRequests).toBe(0);
    } finally {
      await fx.close();
    }
  }, 90_000);
});
