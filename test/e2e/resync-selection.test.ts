// What `resync` selects and how: by instance id, listed in a dry run, by a condition over the
// instance table without --table, and never by SQL text: a condition that tries to leave itself or
// call a function is refused before anything runs (issue 14 case 6, issue 15).
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resync, type ResyncOptions } from '../../src/replica/resync.js';
import {
  settingsEnv,
  startConnectorFixture,
  waitFor,
  waitForConvergence,
  waitForSettled,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { cliEntry } from '../support/cli-entry.js';

const ROOT = new URL('../../', import.meta.url).pathname;

function cli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliEntry(), ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('resync selection', () => {
  let fx: ConnectorFixture;
  let base: Pick<ResyncOptions, 'db' | 'schema' | 'mappings'>;
  const accepted = () => fx.fake.pushes().filter((p) => p.accepted);

  beforeAll(async () => {
    fx = await startConnectorFixture();
    await seedUsers(fx.sql);
    await fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
      select g, 1, 'R' || g, g, case when g <= 3 then 1 else 2 end, '2026-11-01', '2026-11-01' from generate_series(1, 12) g`);
    await waitForConvergence(fx);
    // The last of those pushes recorded too: the first test counts the pushes its resync causes.
    await waitForSettled(fx);
    base = { db: (fx.pipeline as any).state.db, schema: fx.settings.stateSchema, mappings: fx.mappings };
  });

  afterAll(async () => {
    await fx?.close();
  });

  it('re-pushes exactly the instances named by id, and refuses an id the replica does not hold', async () => {
    const before = accepted().length;
    expect(await resync({ ...base, instanceIds: ['oa-req-5', 'oa-req-9'], dryRun: false })).toMatchObject({
      instances: 2,
    });
    fx.pipeline?.sync?.wake();
    // Both named ids among the pushes since, not an exact count: an unrelated push would otherwise
    // hang here and say nothing. The assertion below names every push made since; a timeout says
    // where the two instances stand.
    const both = () => {
      const ids = new Set(
        accepted()
          .slice(before)
          .map((p) => p.instance_id),
      );
      return ids.has('oa-req-5') && ids.has('oa-req-9');
    };
    await waitFor(both, 20_000, 'two more pushes').catch(async (error: unknown) => {
      const { rows } = await fx.state.query(
        `select id, external_id, version, synced_version, lane, parked_reason, hold_lsn, next_attempt_at, last_error
         from ${fx.settings.stateSchema}.instance where external_id in ('oa-req-5', 'oa-req-9')`,
      );
      const pushes = fx.fake.pushes().slice(before);
      const sync = fx.pipeline?.sync;
      const scheduler = { inFlight: sync?.inFlightExternalIds, stopped: sync?.stoppedReason };
      throw new Error(
        `${String(error)}; pushes since: ${JSON.stringify(pushes.map((p) => [p.instance_id, p.accepted, p.httpStatus]))}; instances: ${JSON.stringify(rows)}; scheduler: ${JSON.stringify(scheduler)}`,
      );
    });
    expect(
      accepted()
        .slice(before)
        .map((p) => p.instance_id)
        .sort(),
    ).toEqual(['oa-req-5', 'oa-req-9']);
    await expect(resync({ ...base, instanceIds: ['oa-req-5', 'oa-req-99'], dryRun: true })).rejects.toThrow(
      /no instance oa-req-99 in the replica/,
    );
  });

  it('lists the ids a dry run would push, up to --limit, from the command line', async () => {
    const before = fx.fake.pushes().length;
    const env = settingsEnv(fx.settings, { APPROVAL_CDC_LOG_LEVEL: 'silent' });
    const r = await cli(['resync', '--dry-run', '--limit', '3', '--where', 'status_code = 2'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      'dry run: 9 instances would be pushed again',
      'oa-req-10',
      'oa-req-11',
      'oa-req-12',
      '… and 6 more (--limit N lists more)',
    ]);
    const byId = await resync({ ...base, instanceIds: ['oa-req-3', 'oa-req-2'], dryRun: true, limit: 5 });
    expect(byId).toEqual({ instances: 2, dryRun: true, listed: ['oa-req-2', 'oa-req-3'] });
    expect(fx.fake.pushes().length).toBe(before);
  });

  it('takes --where without --table as a condition over each mapping’s instance table', async () => {
    const r = await resync({
      ...base,
      where: "status_code = '1' or title in ('R7', 'R8')",
      dryRun: true,
      limit: 10,
    });
    expect(r.listed).toEqual(['oa-req-1', 'oa-req-2', 'oa-req-3', 'oa-req-7', 'oa-req-8']);
    expect((await resync({ ...base, where: 'req_id > 9', dryRun: true, limit: 10 })).listed).toEqual([
      'oa-req-10',
      'oa-req-11',
      'oa-req-12',
    ]);
    expect((await resync({ ...base, where: "{status_code: '1'}", dryRun: true })).instances).toBe(3);
    await expect(resync({ ...base, where: "status_cod = '1'", dryRun: true })).rejects.toThrow(
      /--where reads column status_cod, which the replica does not keep for oa\.requests \(did you mean status_code\?\)/,
    );
  });

  it('refuses a --where that breaks out of its parentheses, selecting nothing', async () => {
    await expect(
      resync({ ...base, where: 'true) or (select pg_sleep(1) is null', dryRun: true }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^--where: /) });
    await expect(
      resync({
        ...base,
        table: 'oa.requests',
        where: "status_code = '1'); delete from oa.requests; --",
        dryRun: false,
      }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('advances no sequence in a dry run whose --where calls nextval', async () => {
    const state = (fx.pipeline as any).state.pool;
    await state.query('create sequence if not exists resync_probe_seq');
    await expect(
      resync({ ...base, table: 'oa.requests', where: "nextval('resync_probe_seq') > 0", dryRun: true }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    const { rows } = await state.query('select is_called from resync_probe_seq');
    expect(rows[0].is_called).toBe(false);
  });
});
