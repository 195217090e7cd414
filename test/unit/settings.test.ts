import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeSettings, loadSettings, redactedSettings } from '../../src/config/settings.js';

const URL = 'postgres://u:p@h/db';

describe('settings', () => {
  it('fills defaults, keeping the state out of the legacy database (the embedded store)', () => {
    const s = loadSettings({ env: { APPROVAL_CDC_SOURCE_URL: 'postgres://u:p@h/db' } });
    expect(s.stateUrl).toBeUndefined();
    expect(s.stateDir).toBe(resolve('approval-cdc-state'));
    expect(s.standby).toBe(false);
    expect(s.ratePerMinute).toBe(1000);
    expect(s.ratePerSecond).toBe(50);
    expect(Object.isFrozen(s)).toBe(true);
  });
  it('makes a standby the default only with a state database on another server', () => {
    const shared = loadSettings({
      env: { APPROVAL_CDC_SOURCE_URL: URL, APPROVAL_CDC_STATE_URL: 'postgres://u:p@state/s' },
    });
    expect(shared.standby).toBe(true);
    expect(() =>
      loadSettings({ env: { APPROVAL_CDC_SOURCE_URL: URL, APPROVAL_CDC_STANDBY: 'true' } }),
    ).toThrow(/APPROVAL_CDC_STANDBY is true but APPROVAL_CDC_STATE_URL is not set/);
    expect(
      loadSettings({ env: { APPROVAL_CDC_SOURCE_URL: URL, APPROVAL_CDC_STANDBY: 'false' } }).standby,
    ).toBe(false);
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
