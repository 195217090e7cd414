// Owns the connection to the state database and its schema migrations. Invariant: the schema is
// migrated to the latest version before any stage reads or writes it.
import { Kysely, Migrator, PostgresDialect, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { stateMigrations } from '../../migrations/index.js';
import { CdcError } from '../errors.js';
import type { StateDb } from './state-schema.js';

/** The state database: a typed query handle, the pool under it, and the schema its tables live in. */
export interface StateConnection {
  readonly db: Kysely<StateDb>;
  readonly pool: pg.Pool;
  readonly schema: string;
  close(): Promise<void>;
}

export function openStateDb(
  url: string,
  schema: string,
  options: { max?: number; applicationName?: string } = {},
): StateConnection {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'approval-cdc',
  });
  // A pool error (the server closed an idle connection) must not crash the process; the next query
  // reports the problem where it can be handled.
  pool.on('error', () => undefined);
  // A checked-out client loses the pool's listener: without its own, a connection the server ends
  // mid-transaction (restart, failover) would be an unhandled 'error' event. The query in progress
  // still fails and reports it.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<StateDb>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    schema,
    async close() {
      await db.destroy();
      // Kysely ends the pool only if it ever used it itself; a caller that only ran pool.query (a
      // command that found no state schema) would otherwise keep an idle connection, and the
      // process, alive for the pool's idle timeout (10 s).
      if (!pool.ended) await pool.end().catch(() => undefined);
    },
  };
}

export async function migrateStateDb(state: StateConnection): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => stateMigrations(state.schema) };
  await state.pool.query(`create schema if not exists "${state.schema}"`);
  const migrator = new Migrator({
    db: state.db,
    provider,
    migrationTableSchema: state.schema,
    migrationTableName: 'kysely_migration',
    migrationLockTableName: 'kysely_migration_lock',
    // Migrations are named by issue (migrations/index.ts), so a new one may sort before one a state
    // database already ran; each is independent of the ones it sorts between.
    allowUnorderedMigrations: true,
  });
  const { error } = await migrator.migrateToLatest();
  if (error)
    throw new CdcError('STATE_DB', `migrating state schema ${state.schema} failed`, { cause: error });
}
