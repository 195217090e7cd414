import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

describe('test harness', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('harness');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('gives each test file its own database on a server with wal_level=logical', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ wal_level: string; db: string }>(
        `select current_setting('wal_level') as wal_level, current_database() as db`,
      );
      expect(rows[0]).toEqual({ wal_level: 'logical', db: db.name });
    } finally {
      await client.end();
    }
  });
});
