// The lag probe samples every couple of seconds, and one of its reads (the backlog count) grows with
// the backlog. A slow state database must get neither a pile of overlapping samples nor that count
// at every tick.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { LagProbe, backlogPauseMs } from '../../src/observe/lag-probe.js';
import { createMetrics } from '../../src/observe/metrics.js';
import { CheckpointStore } from '../../src/replica/checkpoint-store.js';
import { InstanceViews } from '../../src/replica/instance-views.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { waitFor } from '../support/connector-fixture.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A backlog count that takes `ms`, recording how many run at once. */
class SlowBacklog extends InstanceViews {
  calls = 0;
  running = 0;
  mostAtOnce = 0;
  constructor(
    state: StateConnection,
    private readonly ms: number,
  ) {
    super(state.db, state.schema);
  }
  override async backlog(): Promise<{ lane: number; count: number; oldest: Date | null }[]> {
    this.calls++;
    this.mostAtOnce = Math.max(this.mostAtOnce, ++this.running);
    await sleep(this.ms);
    this.running--;
    return [{ lane: 0, count: 7, oldest: null }];
  }
}

describe('the lag probe', () => {
  let db: TestDatabase;
  let state: StateConnection;

  beforeAll(async () => {
    db = await createTestDatabase('lagprobe');
    state = openStateDb(db.url, 'approval_cdc');
    await migrateStateDb(state);
  });
  afterAll(async () => {
    await state?.close();
    await db?.drop();
  });

  it('takes one sample at a time and counts a slow backlog at most a twentieth of the time', async () => {
    const table = new SlowBacklog(state, 300);
    const metrics = createMetrics();
    const probe = new LagProbe({
      sourceUrl: db.url,
      slot: 'no_such_slot',
      metrics,
      checkpoints: new CheckpointStore(state.db, state.schema),
      instances: () => table,
      db: state.db,
      logger: createLogger('silent'),
      intervalMs: 20,
    });
    probe.start();
    try {
      await waitFor(() => table.calls >= 1, 10_000, 'a backlog count');
      // Fifty ticks: without the guard, samples overlap and each one counts the backlog again.
      await sleep(1000);
      expect(table.mostAtOnce).toBe(1);
      // The count took 300 ms, so the next may start 6 s later; the gauge keeps the last count.
      expect(table.calls).toBe(1);
      const backlog = await metrics.backlog.get();
      expect(backlog.values.find((v) => v.labels.lane === 'live')?.value).toBe(7);
    } finally {
      await probe.stop();
    }
  });

  it('pauses the backlog count twenty times as long as it took', () => {
    expect(backlogPauseMs(95)).toBe(1900);
    expect(backlogPauseMs(0)).toBe(0);
  });
});
