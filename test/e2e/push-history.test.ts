import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatusText } from '../../src/cli/status.js';
import { gatherStatus } from '../../src/ops/status-report.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { PushHistory, type PushRecord } from '../../src/sync/push-history.js';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const schema = 'history_state';

function push(instance: string, n: number, result: PushRecord['result'] = 'accepted'): PushRecord {
  return {
    instanceId: `["m","${instance}"]`,
    externalId: instance,
    version: BigInt(n),
    lane: 0,
    result,
    code: result === 'accepted' ? '0' : '1395001',
    message: result === 'accepted' ? null : `attempt ${n} failed`,
    updateTime: result === 'accepted' ? BigInt(1000 + n) : null,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
  };
}

describe('push history', () => {
  let db: TestDatabase;
  let state: StateConnection;

  beforeAll(async () => {
    db = await createTestDatabase('history');
    state = openStateDb(db.url, schema, { max: 2 });
    await migrateStateDb(state);
  });
  afterAll(async () => {
    await state?.close();
    await db?.drop();
  });

  const count = async (where = 'true') =>
    Number(
      (
        await state.pool.query<{ n: string }>(
          `select count(*) as n from ${schema}.push_history where ${where}`,
        )
      ).rows[0]?.n,
    );

  it('keeps only the newest pushes of each instance, newest first', async () => {
    const history = new PushHistory(state.db, schema, { perInstance: 3, total: 1000 });
    for (let n = 1; n <= 5; n++) history.record(push('a', n, n % 2 === 0 ? 'retry' : 'accepted'));
    history.record(push('b', 1));
    await history.flush();
    const a = await history.forInstances(['["m","a"]'], 10);
    expect(a.map((e) => e.version)).toEqual([5n, 4n, 3n]);
    expect(a[1]).toMatchObject({ result: 'retry', code: '1395001', message: 'attempt 4 failed' });
    expect(a[0]).toMatchObject({ result: 'accepted', code: '0', updateTime: 1005n, externalId: 'a' });
    expect(await count(`external_id = 'b'`)).toBe(1);
    // Paging further back from the second entry.
    const older = await history.forInstances(['["m","a"]'], 10, a[1]?.id);
    expect(older.map((e) => e.version)).toEqual([3n]);
  });

  it('keeps at most the total, dropping the oldest pushes of any instance', async () => {
    await state.pool.query(`truncate ${schema}.push_history`);
    const history = new PushHistory(state.db, schema, { perInstance: 5, total: 100 });
    for (let n = 0; n < 250; n++) history.record(push(`i${n}`, n));
    await history.flush();
    expect(await count()).toBe(100);
    expect(await count(`external_id = 'i149'`)).toBe(0);
    expect(await count(`external_id = 'i150'`)).toBe(1);
    // Between prunes it may exceed the total by one step (total/20) at most.
    for (let n = 250; n < 254; n++) {
      history.record(push(`i${n}`, n));
      await history.flush();
    }
    expect(await count()).toBeLessThanOrEqual(105);
    const latest = await history.latest(2);
    expect(latest.map((e) => e.externalId)).toEqual(['i253', 'i252']);
  });
});

describe('push history of the running connector', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    fx = await startConnectorFixture();
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('records an accepted push with its update_time, and status shows it', async () => {
    await fx.sql.query(
      `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
       values (41, 1, 'R41', 1, 1, '2026-11-20 09:00:00', '2026-11-20 09:00:00')`,
    );
    const state = openStateDb(fx.stateUrl, fx.settings.stateSchema, { max: 2 });
    try {
      const history = new PushHistory(state.db, fx.settings.stateSchema);
      const entry = await waitFor(
        async () => (await history.latest(10)).find((e) => e.externalId === 'oa-req-41'),
        20_000,
        'the push of oa-req-41 in the history',
      );
      const sent = fx.fake.pushes().find((p) => p.instance_id === 'oa-req-41' && p.accepted);
      expect(entry).toMatchObject({ result: 'accepted', code: '0' });
      expect(entry.updateTime?.toString()).toBe(sent?.update_time);

      const source = new pg.Client({ connectionString: fx.db.url });
      await source.connect();
      try {
        const report = await gatherStatus({
          state: { db: state.db, schema: fx.settings.stateSchema },
          source,
          slot: fx.settings.slotName,
        });
        expect(report.pushes.recent.map((p) => p.externalId)).toContain('oa-req-41');
        expect(report.pushes.lastHour.find((c) => c.result === 'accepted')?.count).toBeGreaterThanOrEqual(1);
        const text = renderStatusText(report);
        expect(text).toMatch(/pushes last hour\s+accepted \d+/);
        expect(text).toMatch(/last pushes:\n.*oa-req-41\s+accepted 0/);
      } finally {
        await source.end();
      }
    } finally {
      await state.close();
    }
  });
});
