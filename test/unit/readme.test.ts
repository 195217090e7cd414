import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS_TABLE } from '../../src/config/settings.js';
import { createMetrics } from '../../src/observe/metrics.js';

// The README is for users and stays short; the full tables live in docs/ (a new setting goes in
// docs/configuration.md, a new metric in docs/metrics.md).
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const readme = read('README.md');
const configuration = read('docs/configuration.md');
const metricsDoc = read('docs/metrics.md');

describe('README', () => {
  it('names the two commands near the top', () => {
    const top = readme.split('\n').slice(0, 40).join('\n');
    expect(top).toContain('npm run demo');
    expect(top).toContain('npm test');
  });
  it('stays under 30 KB and links the full tables', () => {
    expect(Buffer.byteLength(readme, 'utf8')).toBeLessThan(30 * 1024);
    expect(readme).toContain('(docs/configuration.md)');
    expect(readme).toContain('(docs/metrics.md)');
  });
  it('documents every setting in docs/configuration.md', () => {
    for (const spec of Object.values(SETTINGS_TABLE)) expect(configuration).toContain(`\`${spec.env}\``);
  });
  it('documents every exported metric in docs/metrics.md', async () => {
    const names = (await createMetrics().registry.getMetricsAsJSON())
      .map((m) => m.name)
      .filter((n) => n.startsWith('approval_cdc_'));
    expect(names.length).toBeGreaterThan(15);
    for (const name of names) expect(metricsDoc).toContain(name);
  });
});
