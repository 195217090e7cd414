// The CLI as the tests' child processes run it: src/cli/main.ts bundled once per test run by the
// global setup (esbuild, packages left external, so it resolves node_modules as the sources do). A
// spawn then starts in about a third of the CPU time of bin/approval-cdc.js running the sources
// through tsx, which matters for the dozens of `run`, `setup` and `mappings` processes the suite
// starts on 2 cores. The launcher itself keeps its own tests (cli-edges, mapping-cli, the Dockerfile
// replay); everything else about a command is the same code either way.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { inject } from 'vitest';

const ROOT = new URL('../../', import.meta.url);

/** Bundles the CLI under node_modules/.cache (inside the project, so its imports resolve); its path. */
export async function buildCliEntry(): Promise<string> {
  const dir = new URL('node_modules/.cache/approval-cdc-tests/', ROOT);
  mkdirSync(dir, { recursive: true });
  const outfile = new URL(`cli-${process.pid}.mjs`, dir).pathname;
  await build({
    entryPoints: [new URL('src/cli/main.ts', ROOT).pathname],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

/** The bundled CLI's path: spawn it with `process.execPath` as bin/approval-cdc.js would be. */
export function cliEntry(): string {
  return inject('cliEntry');
}
