import { describe, expect, it } from 'vitest';
import { describeSettings, loadSettings, redactedSettings } from '../../src/config/settings.js';

const URL = 'postgres://u:p@h/db';

describe('settings', () => {
  it('fills defaults and defaults the state database to the source', () => {
    const s = loadSettings({ env: { APPROVAL_CDC_SOURCE_URL: 'postgres://u:p@h/db' } });
    expect(s.stateUrl).toBe('postgres://u:p@h/db');
    expect(s.ratePerMinute).toBe(1000);
    expect(s.ratePerSecond).toBe(50);
    expect(Object.isFrozen(s)).toBe(true);
  });
  it('names the environment variable of a bad value', () => {
    expect(() =>
      loadSettings({ env: { APPROVAL_CDC_SOURCE_URL: URL, APPROVAL_CDC_RATE_PER_MINUTE: 'lots' } }),
    ).toThrow('APPROVAL_CDC_RATE_PER_MINUTE: found "lots"; accepted a whole number >= 1');
    expect(() => loadSettings({ env: {} })).toThrow(
      'APPROVAL_CDC_SOURCE_URL: found nothing (it is required); accepted a postgres:// URL',
    );
  });
  it('lets overrides win over the environment', () => {
    const s = loadSettings({
      env: { APPROVAL_CDC_SOURCE_URL: URL, APPROVAL_CDC_SLOT: 'one' },
      overrides: { slotName: 'two' },
    });
    expect(s.slotName).toBe('two');
  });
  it('never shows secrets or passwords when logged', () => {
    const s = loadSettings({
      env: {
        APPROVAL_CDC_SOURCE_URL: 'postgres://app:hunter2@db/legacy',
        APPROVAL_CDC_FEISHU_APP_SECRET: 'sekret',
      },
    });
    const text = JSON.stringify(redactedSettings(s));
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('sekret');
  });
  it('lists every setting with its variable and default for --help', () => {
    const help = describeSettings();
    expect(help).toContain('APPROVAL_CDC_RATE_PER_MINUTE');
    expect(help).toMatch(/APPROVAL_CDC_SOURCE_URL\s+sourceUrl\s+default \(required\)/);
  });
});
