// Gives a test file its own database on the shared test server and drops it, with its replication
// slots, afterwards. Invariant: nothing a test creates outlives the test file.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export function withDatabase(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh database on the server `adminUrl` names; drop() removes it with its replication slots. */
export async function createDatabaseOn(adminUrl: string, prefix: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(adminUrl, name),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      c.on('error', () => undefined);
      await c.connect();
      try {
        await c.query(
          `select pg_terminate_backend(active_pid) from pg_replication_slots where database = $1 and active_pid is not null`,
          [name],
        );
        await c.query(
          `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1`,
          [name],
        );
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A fresh database on the shared test server of this run. */
export function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  return createDatabaseOn(inject('adminUrl'), prefix);
}
