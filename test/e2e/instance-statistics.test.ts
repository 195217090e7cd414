// A stream that creates instances faster than autovacuum analyzes leaves the planner with the
// statistics of a far smaller table: the sync stage's claim then fetches and sorts every dirty instance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstanceTable } from '../../src/replica/instance-table.js';
import { LANE_BULK } from '../../src/replica/instance-vocabulary.js';
import { openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { startConnectorFixture, type ConnectorFixture } from '../support/connector-fixture.js';

describe('the instance table statistics', () => {
  let fx: ConnectorFixture;
  let state: StateConnection;
  beforeAll(async () => {
    fx = await startConnectorFixture({ noPipeline: true });
    state = openStateDb(fx.stateUrl, fx.settings.stateSchema, { max: 1 });
  });
  afterAll(async () => {
    await state?.close();
    await fx?.close();
  });

  const claimPlan = async (): Promise<string> =>
    // The claim's shape (InstanceTable.dueInstances), two instances in flight.
    (
      await fx.state.query<{ 'QUERY PLAN': string }>(`explain select id from approval_cdc.instance i
        where version > synced_version and parked_at is null
          and (hold_lsn is null or hold_lsn <= (select max(lsn) from approval_cdc.checkpoint))
          and not exists (select 1 from approval_cdc.spool_hold h where h.id = i.id)
          and (next_attempt_at is null or next_attempt_at <= now()) and not (id = any('{i1,i2}'::text[]))
        order by lane, priority desc, dirty_since limit 1`)
    ).rows
      .map((r) => r['QUERY PLAN'])
      .join('\n');

  it('analyzes a table that has doubled at the next claim, which then walks its queue index instead of sorting the backlog', async () => {
    const instances = new InstanceTable(state.db, fx.settings.stateSchema);
    // Analyzed while empty, as a first start on an empty source leaves it.
    await instances.analyze();
    // Then a burst: 8,000 instances in the bulk lane.
    const refs = new Map(
      Array.from({ length: 8000 }, (_, i) => [`i${i}`, { mapping: 'm', key: [String(i + 1)] }] as const),
    );
    await instances.bump(refs, LANE_BULK, null, new Map(), (ref) => `x-${ref.key[0]}`)?.execute(state.db);
    expect(await claimPlan()).toContain('Sort');

    const [first] = await instances.dueInstances(1, []);
    expect(first).toBeDefined();
    expect(await claimPlan()).not.toContain('Sort');
    expect(await claimPlan()).toContain('instance_due');
  });
});
