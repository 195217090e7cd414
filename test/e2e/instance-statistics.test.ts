// A stream that creates instances faster than autovacuum analyzes leaves the planner with the
// statistics of a far smaller table: the sync stage's claim then fetches and sorts every dirty instance.
import { sql } from 'kysely';
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

  // The plan of the claim's own statement, two instances in flight.
  const claimPlan = async (instances: InstanceTable): Promise<string> =>
    (
      await sql<{ 'QUERY PLAN': string }>`explain ${instances.claimQuery(1, ['i1', 'i2'])}`.execute(state.db)
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
    expect(await claimPlan(instances)).toContain('Sort');

    const [first] = await instances.dueInstances(1, []);
    expect(first).toBeDefined();
    expect(await claimPlan(instances)).not.toContain('Sort');
    expect(await claimPlan(instances)).toContain('instance_due');
  });
});
