import { describe, expect, it } from 'vitest';
import type { ExternalInstance } from '../../src/feishu/external-instance.js';
import { startConnectorFixture, waitFor } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

describe('push slots', () => {
  it('keeps one push slot for live changes while Feishu does not answer the backfill', async () => {
    const fx = await startConnectorFixture({ noPipeline: true, settings: { syncConcurrency: 2 } });
    // Feishu "hangs" on every backfill push (answered only at the end); live pushes are answered.
    const hung: (() => void)[] = [];
    const pushed: string[] = [];
    const push = (payload: ExternalInstance): Promise<void> => {
      pushed.push(payload.instance_id);
      if (payload.instance_id === 'oa-req-9001') return Promise.resolve();
      return new Promise<void>((resolve) => hung.push(resolve));
    };
    try {
      await seedUsers(fx.sql);
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        select g, 1, 'old ' || g, 1 + g % 20, 2, '2025-01-01', '2025-01-01' from generate_series(1, 20) g`);
      await fx.startPipeline({ push });
      await waitFor(() => hung.length >= 1, 30_000, 'a backfill push in flight');
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        values (9001, 1, 'live', 1, 1, '2026-11-25 10:00:00', '2026-11-25 10:00:00')`);
      // With both slots taken by hung backfill pushes, the live one would wait for Feishu's answer.
      await waitFor(() => pushed.includes('oa-req-9001'), 20_000, 'the live push');
      expect(hung).toHaveLength(1);
    } finally {
      hung.splice(0).forEach((resolve) => resolve());
      await fx.close();
    }
  }, 90_000);
});
