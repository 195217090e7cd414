// A real headless Chromium for the console's tests: the system's (Debian's `chromium`, installed by
// .ci/run), driven by playwright-core, which downloads no browser of its own. Screenshots go to
// test-artifacts/console/ (gitignored).
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const ARTIFACTS = new URL('../../test-artifacts/console/', import.meta.url).pathname;

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string {
  const found = CANDIDATES.find((p): p is string => !!p && existsSync(p));
  if (!found)
    throw new Error('no Chromium found: install it (`apt-get install -y chromium`) or set CHROMIUM_PATH');
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: chromiumPath(),
    // As root (CI) Chromium refuses to start with its sandbox.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}
