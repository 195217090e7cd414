import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS_TABLE } from '../../src/config/settings.js';
import { createMetrics } from '../../src/observe/metrics.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('names the two commands near the top', () => {
    const top = readme.split('\n').slice(0, 40).join('\n');
    expect(top).toContain('npm run demo');
    expect(top).toContain('npm test');
  });
  it('documents every setting', () => {
    for (const spec of Object.values(SETTINGS_TABLE)) expect(readme).toContain(`\`${spec.env}\``);
  });
  it('documents every exported metric', async () => {
    const names = (await createMetrics().registry.getMetricsAsJSON())
      .map((m) => m.name)
      .filter((n) => n.startsWith('approval_cdc_'));
    expect(names.length).toBeGreaterThan(15);
    for (const name of names) expect(readme).toContain(name);
  });
});
