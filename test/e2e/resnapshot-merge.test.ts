// A re-snapshot copies every table again over the images already in the replica: the set-based merge
// must dirty the instances whose rows changed and leave the others alone (a re-snapshot of a large
// replica must not push every instance again).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEGACY_KEYS, replicaDifferences } from '../support/replica-check.js';
import {
  startConnectorFixture,
  waitForConvergence,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

describe('a re-snapshot over a loaded replica', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    fx = await startConnectorFixture({ noPipeline: true });
    await seedUsers(fx.sql);
    await fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, reason, submitted_at, updated_at)
       select g, 1, 'Request ' || g, 1 + g % 20, 1, 'r', '2026-01-01', '2026-01-01' from generate_series(1, 30) g`);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('bumps the instance whose row changed and no instance whose rows did not', async () => {
    await fx.startPipeline({ snapshotPageSize: 7 });
    await waitForConvergence(fx, 40_000);
    await fx.stopPipeline();
    const versions = async () =>
      new Map(
        (
          await fx.state.query<{ external_id: string; version: string }>(
            `select external_id, version::text from approval_cdc.instance`,
          )
        ).rows.map((r) => [r.external_id, Number(r.version)]),
      );
    const before = await versions();
    // Changed while no connector runs; the re-snapshot drops the slot, so only the copy can see it.
    await fx.sql.query(
      `update oa.requests set title = 'renamed', updated_at = '2026-02-01' where req_id = 5`,
    );
    await fx.startPipeline({ snapshotPageSize: 7, resnapshot: true });
    const after = await versions();
    expect(after.get('oa-req-5')).toBeGreaterThan(before.get('oa-req-5') ?? Infinity);
    for (const id of ['oa-req-1', 'oa-req-7', 'oa-req-30']) expect(after.get(id), id).toBe(before.get(id));
    expect(
      await replicaDifferences(fx.sql, fx.settings.stateSchema, fx.mappings, LEGACY_KEYS, fx.state),
    ).toEqual([]);
    await fx.stopPipeline();
  }, 120_000);
});
