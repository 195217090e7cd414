import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runFakeFeishu } from '../../src/cli/fake-feishu.js';

describe('approval-cdc fake-feishu', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('--help lists every option it accepts and exits 0 without starting a server', async () => {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    expect(await runFakeFeishu(['--help'])).toBe(0);
    // The options parseArgs accepts, read from the source so a new option without help fails here.
    const source = readFileSync(new URL('../../src/cli/fake-feishu.ts', import.meta.url), 'utf8');
    const options = [...source.matchAll(/^ {8}'?([a-z-]+)'?: \{ type: /gm)].map((m) => m[1]);
    expect(options).toContain('approval-code');
    for (const option of options) expect(out).toContain(`--${option}`);
  });

  it('points at --help when an option is unknown', async () => {
    let err = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      err += String(chunk);
      return true;
    });
    expect(await runFakeFeishu(['--approval-codes', 'leave'])).toBe(2);
    expect(err).toContain('--help');
  });
});
