import { describe, expect, it } from 'vitest';
import { resync } from '../../src/replica/resync.js';
import {
  startConnectorFixture,
  waitFor,
  waitForConvergence,
  waitForSettled,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

describe('resync', () => {
  it('counts in a dry run, then pushes exactly the selected instances again from the replica', async () => {
    const fx = await startConnectorFixture();
    try {
      await seedUsers(fx.sql);
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        select g, 1, 'R' || g, g, case when g <= 3 then 1 else 2 end, '2026-11-01', '2026-11-01' from generate_series(1, 8) g`);
      await waitForConvergence(fx);
      await waitForSettled(fx);
      const pushes = () => fx.fake.pushes().filter((p) => p.accepted).length;
      const before = pushes();
      const db = (fx.pipeline as any).state.db;
      const base = { db, schema: fx.settings.stateSchema, mappings: fx.mappings };
      expect(
        await resync({ ...base, table: 'oa.requests', where: "status_code = '1'", dryRun: true }),
      ).toEqual({ instances: 3, dryRun: true, listed: [] });
      await new Promise((r) => setTimeout(r, 500));
      expect(pushes()).toBe(before);
      expect(
        await resync({ ...base, table: 'oa.requests', where: "status_code = '1'", dryRun: false }),
      ).toEqual({ instances: 3, dryRun: false, listed: [] });
      fx.pipeline?.sync?.wake();
      await waitFor(() => pushes() === before + 3, 20_000, 'three more pushes');
      const again = fx.fake
        .pushes()
        .filter((p) => p.accepted)
        .slice(before)
        .map((p) => p.instance_id)
        .sort();
      expect(again).toEqual(['oa-req-1', 'oa-req-2', 'oa-req-3']);
      expect(await resync({ ...base, mapping: 'oa-request', dryRun: true })).toEqual({
        instances: 8,
        dryRun: true,
        listed: [],
      });
      await expect(resync({ ...base, mapping: 'nope', dryRun: true })).rejects.toThrow(
        /no mapping named nope/,
      );
    } finally {
      await fx.close();
    }
  });
});
