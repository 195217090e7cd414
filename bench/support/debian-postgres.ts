// A throwaway legacy server from Debian's PostgreSQL 15 binaries (/usr/lib/postgresql/15/bin), for
// benchmarks that compare with pg_dump: the Debian pg_dump (15) refuses a newer server, and the
// embedded Postgres 17 ships no pg_dump. Runs as the `postgres` user when this process is root
// (initdb refuses root); binds 127.0.0.1 on a free port; stop() removes the cluster.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, THROWAWAY_SETTINGS } from '../../src/demo/throwaway-postgres.js';

const run = promisify(execFile);
export const DEBIAN_PG15_BIN = '/usr/lib/postgresql/15/bin';

export function debianPostgres15Available(): boolean {
  return existsSync(join(DEBIAN_PG15_BIN, 'postgres')) && existsSync(join(DEBIAN_PG15_BIN, 'pg_dump'));
}

export async function startDebianPostgres15(
  settings: Record<string, string>,
): Promise<{ url: string; dataDir: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-pg15-'));
  await chmod(dir, 0o755);
  const root = userInfo().uid === 0;
  const ids = root ? (await run('id', ['-u', 'postgres'])).stdout.trim() : null;
  if (root && ids) {
    const gid = (await run('id', ['-g', 'postgres'])).stdout.trim();
    await chown(dir, Number(ids), Number(gid));
  }
  const as = (bin: string, args: string[]) =>
    root
      ? run('runuser', ['-u', 'postgres', '--', join(DEBIAN_PG15_BIN, bin), ...args])
      : run(join(DEBIAN_PG15_BIN, bin), args);
  const data = join(dir, 'data');
  await as('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const options = Object.entries({
    ...THROWAWAY_SETTINGS,
    ...settings,
    port: String(port),
    unix_socket_directories: dir,
  })
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');
  await as('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '60', 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dataDir: data,
    async stop() {
      await as('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Seconds `pg_dump --data-only` of `tables` into /dev/null takes: the yardstick of the copy benches. */
export async function timePgDump(url: string, tables: readonly string[]): Promise<number> {
  const d0 = Date.now();
  await run(join(DEBIAN_PG15_BIN, 'pg_dump'), [
    '--data-only',
    ...tables.flatMap((t) => ['-t', t]),
    '-f',
    '/dev/null',
    '-d',
    url,
  ]);
  return (Date.now() - d0) / 1000;
}
