// Gives a test file its own database on the shared test server and drops it, with its replication
// slots, afterwards. Invariant: nothing a test creates outlives the test file. A test file's database
// is a clone of the run's template, in which the state schema (DEFAULT_STATE_SCHEMA) is migrated.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { migrateStateDb, openStateDb } from '../../src/replica/state-db.js';

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

/** The state schema the template holds migrated (the settings' default). */
export const DEFAULT_STATE_SCHEMA = 'approval_cdc';

/**
 * A fresh database on the server `adminUrl` names, a copy of `template` if given (it must have no
 * open connections); drop() removes it with its replication slots.
 */
export async function createDatabaseOn(
  adminUrl: string,
  prefix: string,
  template?: string,
): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"${template ? ` template "${template}"` : ''}`);
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

/** The run's template: a fresh database with the state schema migrated, and no connection left open. */
export async function createTemplateDatabase(adminUrl: string): Promise<TestDatabase> {
  const template = await createDatabaseOn(adminUrl, 'template');
  const state = openStateDb(template.url, DEFAULT_STATE_SCHEMA, { max: 1 });
  try {
    await migrateStateDb(state);
  } finally {
    await state.close();
  }
  return template;
}

/**
 * A fresh database on the shared test server of this run, cloned from the run's template; `empty`:
 * without the state schema (for tests of what happens before setup).
 */
export function createTestDatabase(prefix = 't', options: { empty?: boolean } = {}): Promise<TestDatabase> {
  return createDatabaseOn(inject('adminUrl'), prefix, options.empty ? undefined : inject('templateDatabase'));
}

/**
 * A pool on a test database that ignores its connections' late errors. pg-pool's end() resolves
 * before its clients' connections have closed, so a drop() right after it can terminate a backend
 * whose client is still closing; the client's error then reaches the pool, which throws it as an
 * uncaught exception when nobody listens (row-query.test.ts failed a CI run that way).
 */
export function testPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => undefined);
  return pool;
}
