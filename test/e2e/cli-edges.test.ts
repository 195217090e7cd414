// The CLI at its edges, in a child process (the closed pipe through the real launcher, the rest
// through the bundled CLI, test/support/cli-entry.ts): a closed pipe, grouped and
// cut parked lists, unknown ids. Each case is one an on-call engineer meets with a shell pipeline.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { cliEntry } from '../support/cli-entry.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Runs a shell line in the repository with exactly `env` (plus PATH and HOME). */
function sh(
  line: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', line], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('the CLI in a shell pipeline', () => {
  let db: TestDatabase;
  let state: StateConnection;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('cliedges');
    state = openStateDb(db.url, 'approval_cdc');
    await migrateStateDb(state);
    // 300 parked instances of two causes, each listed with a long reason: far more than a pipe holds.
    await state.pool.query(
      `insert into approval_cdc.instance (id, mapping, key, external_id, version, parked_at, parked_reason, attempts, last_error_code)
       select 'oa-request:' || i, 'oa-request', jsonb_build_array(i::text), 'oa-req-' || i, 2,
              now() - make_interval(secs => 300 - i),
              case when i % 3 = 0 then 'PAYLOAD_LIMIT: too many tasks (250 > 200) ' || repeat('x', 400)
                   else 'FEISHU_API: 1390001 unknown approval code ' || repeat('y', 400) end,
              1, case when i % 3 = 0 then 'PAYLOAD_LIMIT' else '1390001' end
       from generate_series(1, 300) i`,
    );
    // And one that is not parked.
    await state.pool.query(
      `insert into approval_cdc.instance (id, mapping, key, external_id, version)
       values ('oa-request:500', 'oa-request', '["500"]', 'oa-req-500', 1)`,
    );
    env = { APPROVAL_CDC_SOURCE_URL: db.url, APPROVAL_CDC_LOG_LEVEL: 'silent' };
  });

  afterAll(async () => {
    await state?.close();
    await db?.drop();
  });

  it('`parked list | head -1` prints one line and exits quietly (no EPIPE)', async () => {
    const r = await sh('node bin/approval-cdc.js parked list | head -1', env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stdout).toMatch(/^oa-req-1 /);
  });

  it('`parked list --by reason` prints the two causes with their counts, largest first', async () => {
    const r = await sh(`node ${cliEntry()} parked list --by reason`, env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^300 parked instances in 2 groups/);
    const counts = [...r.stdout.matchAll(/^ +(\d+) {2}(\S+) {2}/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(counts).toEqual(['200 1390001', '100 PAYLOAD_LIMIT']);
  });

  it('exits 2 on a configuration mistake, naming the variable, the value found and what is accepted', async () => {
    const r = await sh(`node ${cliEntry()} status`, {
      ...env,
      APPROVAL_CDC_STANDBY: 'yes',
      APPROVAL_CDC_RATE_PER_MINUT: '600',
    });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'CONFIG_INVALID: 2 setting problems:\n' +
        '  unknown variable APPROVAL_CDC_RATE_PER_MINUT (did you mean APPROVAL_CDC_RATE_PER_MINUTE?)\n' +
        '  APPROVAL_CDC_STANDBY: found "yes"; accepted true, false, 1 or 0\n',
    );
  });

  it('says so on stderr when `parked list` is cut at --limit', async () => {
    const r = await sh(`node ${cliEntry()} parked list --limit 100 --json`, env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(100);
    expect(r.stderr).toContain(
      'showing the oldest 100 of 300 parked instances; pass --limit <n> (0 for all)',
    );
  });

  // Last: it un-parks oa-req-2.
  it('exits 4 naming each id of `parked retry` that is unknown or not parked, after retrying the rest', async () => {
    const r = await sh(`node ${cliEntry()} parked retry oa-req-2 oa-req-500 oa-req-9999`, env);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('1 parked instances will be tried again\n');
    expect(r.stderr).toContain('oa-req-500: not parked');
    expect(r.stderr).toContain('oa-req-9999: no such instance');
  });
});
