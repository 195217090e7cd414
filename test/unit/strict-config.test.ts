// Each configuration mistake an operator was seen making gets a message that names the variable (or
// key), what was found and what is accepted, or the name that was probably meant; all problems of one
// start are reported together.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseListenAddress } from '../../src/config/listen-address.js';
import { describeSettings, loadSettings } from '../../src/config/settings.js';
import { isCdcError } from '../../src/errors.js';

const SOURCE = 'postgres://cdc:hunter2@db.internal:5432/legacy';
const dir = mkdtempSync(join(tmpdir(), 'strict-config-'));

function configFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The message of the CONFIG_INVALID error these sources raise. */
function problemOf(env: Record<string, string>, file?: string): string {
  try {
    loadSettings({ env: { APPROVAL_CDC_SOURCE_URL: SOURCE, ...env }, ...(file ? { file } : {}) });
  } catch (error) {
    expect(isCdcError(error, 'CONFIG_INVALID')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('settings were accepted');
}

describe('strict configuration', () => {
  it('refuses unknown config-file keys, suggesting the key meant', () => {
    const file = configFile('typos.yaml', 'ratePerMinut: 600\nmetricAddress: 127.0.0.1:9999\n');
    const message = problemOf({}, file);
    expect(message).toContain(`${file}: unknown key "ratePerMinut" (did you mean "ratePerMinute"?)`);
    expect(message).toContain(`${file}: unknown key "metricAddress" (did you mean "metricsAddress"?)`);
    expect(message).toMatch(/^2 setting problems:/);
  });

  it('refuses a misspelled APPROVAL_CDC_* variable, suggesting the one meant', () => {
    expect(problemOf({ APPROVAL_CDC_RATE_PER_MINUT: '600' })).toContain(
      'unknown variable APPROVAL_CDC_RATE_PER_MINUT (did you mean APPROVAL_CDC_RATE_PER_MINUTE?)',
    );
  });

  it('reports a YAML error of the config file with its line and column', () => {
    const file = configFile('broken.yaml', 'ratePerMinute: 600\nslotName: [unclosed\nlogLevel: info\n');
    expect(problemOf({}, file)).toMatch(new RegExp(`${file}:\\d+:\\d+: invalid YAML`));
  });

  it('takes INITIAL_LOAD_SINCE only as an ISO 8601 date or time', () => {
    for (const value of ['yesterday', '1']) {
      expect(problemOf({ APPROVAL_CDC_INITIAL_LOAD_SINCE: value })).toContain(
        `APPROVAL_CDC_INITIAL_LOAD_SINCE: found "${value}"; accepted an ISO 8601 date or time`,
      );
    }
    const s = loadSettings({
      env: { APPROVAL_CDC_SOURCE_URL: SOURCE, APPROVAL_CDC_INITIAL_LOAD_SINCE: '2024-06-01T00:00:00+08:00' },
    });
    expect(s.initialLoadSince?.toISOString()).toBe('2024-05-31T16:00:00.000Z');
  });

  it('refuses a source URL that is not a postgres:// URL, without showing a password', () => {
    expect(problemOf({ APPROVAL_CDC_SOURCE_URL: 'x' })).toContain(
      'APPROVAL_CDC_SOURCE_URL: found "x"; accepted a postgres:// URL such as postgres://user:password@host:5432/database',
    );
    const message = problemOf({ APPROVAL_CDC_SOURCE_URL: 'http://cdc:hunter2@db/legacy' });
    expect(message).toContain('found "http://cdc:***@db/legacy"');
    expect(message).not.toContain('hunter2');
  });

  it('checks the metrics address at start-up, brackets for IPv6 included', () => {
    expect(problemOf({ APPROVAL_CDC_METRICS_ADDRESS: 'abc' })).toContain(
      'APPROVAL_CDC_METRICS_ADDRESS: found "abc"; accepted host:port (e.g. 127.0.0.1:9187, [::1]:9187, :9187) or "off"',
    );
    expect(problemOf({ APPROVAL_CDC_METRICS_ADDRESS: '127.0.0.1:99999' })).toContain(
      'found "127.0.0.1:99999"',
    );
    const s = loadSettings({
      env: { APPROVAL_CDC_SOURCE_URL: SOURCE, APPROVAL_CDC_METRICS_ADDRESS: '[::1]:9187' },
    });
    expect(parseListenAddress(s.metricsAddress)).toEqual({ host: '::1', port: 9187 });
    expect(parseListenAddress(':9187')).toEqual({ host: '127.0.0.1', port: 9187 });
  });

  it('names the accepted values of STANDBY=yes', () => {
    expect(problemOf({ APPROVAL_CDC_STANDBY: 'yes' })).toContain(
      'APPROVAL_CDC_STANDBY: found "yes"; accepted true, false, 1 or 0',
    );
  });

  it('refuses a per-second rate above the per-minute rate', () => {
    expect(problemOf({ APPROVAL_CDC_RATE_PER_SECOND: '100', APPROVAL_CDC_RATE_PER_MINUTE: '60' })).toContain(
      'APPROVAL_CDC_RATE_PER_SECOND (100) is above APPROVAL_CDC_RATE_PER_MINUTE (60): calls per second can be at most the calls per minute',
    );
  });

  it('names a config-file key, not a variable, when the bad value came from the file', () => {
    const file = configFile('bad-value.yaml', 'truncate: purge\n');
    expect(problemOf({}, file)).toContain(
      `truncate in ${file}: found "purge"; accepted one of ignore, delete`,
    );
  });

  it('reports every problem of one start together', () => {
    const message = problemOf({
      APPROVAL_CDC_STANDBY: 'yes',
      APPROVAL_CDC_TRUNCATE: 'purge',
      APPROVAL_CDC_SLOTT: 'x',
    });
    expect(message).toMatch(/^3 setting problems:/);
  });

  it('shows optional settings as optional in --help', () => {
    const help = describeSettings();
    expect(help).toMatch(/APPROVAL_CDC_INITIAL_LOAD_SINCE\s+initialLoadSince\s+default \(optional\)/);
    expect(help).toMatch(/APPROVAL_CDC_INITIAL_LOAD_WHERE\s+initialLoadWhere\s+default \(optional\)/);
    expect(help).toMatch(/APPROVAL_CDC_SOURCE_URL\s+sourceUrl\s+default \(required\)/);
    expect(help).not.toMatch(/\(required\)[\s\S]*\(required\)/);
  });
});
