// A throwaway Postgres cluster of the fault suite's own that can be stopped and started again on the
// same data directory (persistent: true), unlike test/support/throwaway-postgres.ts, whose stop()
// deletes the data. Invariant: it lives in a fresh temp directory, binds 127.0.0.1 only, and
// destroy() stops it and removes the directory.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  loadEmbeddedPostgres,
  THROWAWAY_SETTINGS,
  throwawayDir,
} from '../../support/throwaway-postgres.js';

export interface RestartablePostgres {
  /** Superuser URL of the `postgres` database. */
  url: string;
  port: number;
  running: boolean;
  /** Fast shutdown (SIGINT): open sessions are terminated, the data stays. */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startRestartablePostgres(
  extraSettings: Record<string, string> = {},
): Promise<RestartablePostgres> {
  const parent = await throwawayDir('approval-cdc-fault-pg-');
  const port = await freePort();
  const password = 'postgres';
  const settings: Record<string, string> = {
    ...THROWAWAY_SETTINGS,
    max_replication_slots: '16',
    max_wal_senders: '16',
    max_connections: '200',
    ...extraSettings,
  };
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: true,
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: () => undefined,
    onError: () => undefined,
  });
  await cluster.initialise();
  await cluster.start();
  const pg: RestartablePostgres = {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    running: true,
    async stop() {
      await cluster.stop();
      pg.running = false;
    },
    async start() {
      await cluster.start();
      pg.running = true;
    },
    async destroy() {
      await cluster.stop().catch(() => undefined);
      pg.running = false;
      await rm(parent, { recursive: true, force: true });
    },
  };
  return pg;
}
