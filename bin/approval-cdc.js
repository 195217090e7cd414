#!/usr/bin/env node
// Launcher. Runs the compiled CLI (dist/, from `npm run build`) when it is at least as new as every
// source file, otherwise the TypeScript sources through tsx. Compiled code starts faster and uses
// about 40 MB less memory; the source fallback means a stale build can never run by mistake.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'src', 'cli', 'main.js');
const stamp = join(root, 'dist', '.stamp');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

// An image carries dist/ without src/: the compiled code is all there is.
const fresh =
  (existsSync(compiled) && !existsSync(join(root, 'src'))) ||
  (existsSync(compiled) &&
    existsSync(stamp) &&
    statSync(stamp).mtimeMs >=
      Math.max(newestSource(join(root, 'src')), newestSource(join(root, 'migrations'))));

if (fresh) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
