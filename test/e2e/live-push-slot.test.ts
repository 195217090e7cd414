import { describe, expect, it, vi } from 'vitest';
import { InstanceTable } from '../../src/replica/instance-table.js';
import { LANE_LIVE } from '../../src/replica/instance-vocabulary.js';
import type { ExternalInstance } from '../../src/feishu/external-instance.js';
import { startConnectorFixture, waitFor } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

describe('push slots', () => {
  it('keeps one push slot for live changes while Feishu does not answer the backfill', async () => {
    const fx = await startConnectorFixture({ noPipeline: true, settings: { syncConcurrency: 2 } });
    // Feishu "hangs" on every backfill push (answered only at the end); live pushes are answered.
    const hung: (() => void)[] = [];
    const pushed: string[] = [];
    let answering = false;
    const push = (payload: ExternalInstance): Promise<void> => {
      pushed.push(payload.instance_id);
      // Once the test is done every push is answered: one left hanging would hold up the stop.
      if (payload.instance_id === 'oa-req-9001' || answering) return Promise.resolve();
      return new Promise<void>((resolve) => hung.push(resolve));
    };
    try {
      await seedUsers(fx.sql);
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        select g, 1, 'old ' || g, 1 + g % 20, 2, '2025-01-01', '2025-01-01' from generate_series(1, 20) g`);
      // Every instance the scheduler is handed once only the live slot is free: a backfill one would
      // be dropped at once, and asking for it scans the whole backlog (at every replica batch).
      const handed: number[] = [];
      const due = InstanceTable.prototype.dueInstances;
      vi.spyOn(InstanceTable.prototype, 'dueInstances').mockImplementation(async function (
        this: InstanceTable,
        ...args: Parameters<typeof due>
      ) {
        const lowerFull = hung.length >= 1;
        const found = await due.apply(this, args);
        if (lowerFull) handed.push(...found.map((i) => i.lane));
        return found;
      });
      await fx.startPipeline({ push });
      await waitFor(() => hung.length >= 1, 30_000, 'a backfill push in flight');
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        values (9001, 1, 'live', 1, 1, '2026-11-25 10:00:00', '2026-11-25 10:00:00')`);
      // With both slots taken by hung backfill pushes, the live one would wait for Feishu's answer.
      await waitFor(() => pushed.includes('oa-req-9001'), 20_000, 'the live push');
      expect(hung).toHaveLength(1);
      // Rounds go on (the poll, the live change's wake): none of them takes a backfill instance.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(handed.filter((lane) => lane !== LANE_LIVE)).toEqual([]);
      expect(handed).toContain(LANE_LIVE);
    } finally {
      vi.restoreAllMocks();
      answering = true;
      hung.splice(0).forEach((resolve) => resolve());
      await fx.close();
    }
  }, 90_000);
});
