import { describe, expect, it } from 'vitest';
import { loadSettings, redactedSettings } from '../../src/config/settings.js';
import { redactUrls } from '../../src/core/logger.js';

describe('password redaction', () => {
  it('hides a database password with a raw @ entirely, in settings and in log text', () => {
    const url = 'postgres://cdc:cd@SECRETtail99@db.internal:5432/legacy';
    const shown = redactedSettings(loadSettings({ overrides: { sourceUrl: url } }));
    expect(shown.sourceUrl).toBe('postgres://cdc:***@db.internal:5432/legacy');
    const line = redactUrls(`cannot connect to "${url}" (ECONNREFUSED) and postgresql://u:a:b/c@d@h/x too`);
    expect(line).toBe(
      'cannot connect to "postgres://cdc:***@db.internal:5432/legacy" (ECONNREFUSED) and postgresql://u:***@h/x too',
    );
    expect(line).not.toContain('SECRET');
    expect(line).not.toContain('tail99');
  });

  it('leaves URLs without a password as they are', () => {
    expect(redactUrls('postgres://cdc@db/legacy and postgres://db/legacy')).toBe(
      'postgres://cdc@db/legacy and postgres://db/legacy',
    );
  });
});
