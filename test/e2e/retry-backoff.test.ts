import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

const row = async (fx: ConnectorFixture) =>
  (
    await fx.state.query(
      `select version::int, attempts, next_attempt_at from approval_cdc.instance where external_id = 'oa-req-1'`,
    )
  ).rows[0] as { version: number; attempts: number; next_attempt_at: Date } | undefined;

describe('retry backoff per instance', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    fx = await startConnectorFixture();
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('keeps the backoff of an instance in retry when new changes to it arrive during an outage', async () => {
    fx.fake.faults.set({ errorRate: 1 });
    await fx.sql.query(
      `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at) values (1, 1, 'R1', 1, 1, '2026-11-20 09:00:00', '2026-11-20 09:00:00')`,
    );
    const before = await waitFor(
      async () => {
        const r = await row(fx);
        return r && r.attempts >= 3 ? r : null;
      },
      30_000,
      'three failed attempts',
    );
    await fx.sql.query(`update oa.requests set title = 'changed during the outage' where req_id = 1`);
    const after = await waitFor(
      async () => {
        const r = await row(fx);
        return r && r.version > before.version ? r : null;
      },
      10_000,
      'the change applied',
    );
    // The new change neither resets the attempt count (the next backoff would start at 0.5 s again)
    // nor moves the next attempt earlier.
    expect(after.attempts).toBeGreaterThanOrEqual(before.attempts);
    expect(after.next_attempt_at.getTime()).toBeGreaterThanOrEqual(before.next_attempt_at.getTime());
    fx.fake.faults.clear();
    await waitFor(() => fx.fake.instance('oa-req-1')?.title !== undefined, 30_000, 'pushed after the outage');
  });
});
