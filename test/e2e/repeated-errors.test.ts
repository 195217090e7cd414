// Errors that repeat while something stays broken reach the log once a minute per kind, with a
// count, instead of once per attempt: here the rate ledger's end records while its table is gone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingLogger } from '../support/recording-logger.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { RateLedger } from '../../src/sync/rate-ledger.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const schema = 'repeat_state';

describe('repeated errors in the log', () => {
  let db: TestDatabase;
  let state: StateConnection;
  beforeAll(async () => {
    db = await createTestDatabase('repeat');
    state = openStateDb(db.url, schema);
    await migrateStateDb(state);
  });
  afterAll(async () => {
    await state?.close();
    await db?.drop();
  });

  it('logs one "rate ledger write failed" and a count, not one line per push, while the ledger cannot be written', async () => {
    const { logger, lines } = recordingLogger();
    const ledger = new RateLedger({
      db: state.db,
      schema,
      app: 'cli_a',
      windowMs: 60_000,
      timeoutMs: 3000,
      logger,
    });
    const ends = [];
    for (let i = 0; i < 25; i++) ends.push(await ledger.begin());
    // The table goes away under it (someone dropped it; the same as a state database refusing writes).
    await state.pool.query(`alter table ${schema}.rate_ledger rename to rate_ledger_gone`);
    try {
      for (const end of ends) end();
      await ledger.flush();
    } finally {
      await state.pool.query(`alter table ${schema}.rate_ledger_gone rename to rate_ledger`);
    }
    expect(lines.map((l) => l.message)).toEqual([
      'rate ledger write failed',
      '… and 24 more like "rate ledger write failed" (42P01) in the last 60 s',
    ]);
  });
});
