import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT, EXIT_BY_CODE } from '../../src/cli/exit-codes.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** The rows of the "Exit codes" table, wherever the docs keep it: code -> meaning. */
function documentedExitCodes(): Map<number, string> {
  const rows = new Map<number, string>();
  for (const file of ['README.md', 'docs/configuration.md', 'docs/operations.md']) {
    const text = read(file);
    const at = text.indexOf('## Exit codes');
    if (at < 0) continue;
    const section = text.slice(at).split(/\n## /)[0] ?? '';
    for (const m of section.matchAll(/^\|\s*(\d+)\s*\|\s*(.+?)\s*\|$/gm))
      rows.set(Number(m[1]), m[2] as string);
  }
  return rows;
}

describe('exit codes', () => {
  it('documents every exit code a command can return in one table, and no code that does not exist', () => {
    const documented = documentedExitCodes();
    expect([...documented.keys()].sort()).toEqual(Object.values(EXIT).sort());
  });

  it('maps a configuration error to 2 and a runtime failure to 1, as the table says', () => {
    const documented = documentedExitCodes();
    expect(EXIT_BY_CODE.CONFIG_INVALID).toBe(2);
    expect(EXIT_BY_CODE.STATE_DB).toBe(1);
    expect(documented.get(2)).toMatch(/^configuration/);
    expect(documented.get(1)).toMatch(/^runtime failure/);
  });
});
