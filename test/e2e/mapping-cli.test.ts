// The `mappings` commands and mapping loading as users meet them: through the CLI in a child process
// (the launcher once, the bundled CLI otherwise), with exit codes and exact messages. `check` needs no environment at all; `preview`
// prints the payload the connector would push; a mapping that fails to load stops `run` before it
// touches the source database.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExternalInstance } from '../../src/feishu/external-instance.js';
import { startFakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { loadInstanceRowsLive } from '../../src/source/live-rows.js';
import { cliEntry } from '../support/cli-entry.js';
import { createTestDatabase, type TestDatabase, testPool } from '../support/test-database.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const LEGACY_SCHEMA = readFileSync(
  new URL('../../examples/legacy-approval/schema.sql', import.meta.url),
  'utf8',
);
const BROKEN = 'test/support/broken-mappings/bad-instance-status.yaml';
const BROKEN_MESSAGE = `${BROKEN}:14:60 mappings[0].instance.status.values["2"]: "APPROVE"; expected one of PENDING, APPROVED, REJECTED, CANCELED, DELETED, HIDDEN, TERMINATED`;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI with exactly `env` (plus PATH and HOME): nothing leaks from the test's environment.
 * The bundled CLI (test/support/cli-entry.ts) by default; `launcher` runs bin/approval-cdc.js.
 */
function cli(
  args: readonly string[],
  env: Record<string, string> = {},
  entry: 'bundle' | 'launcher' = 'bundle',
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [entry === 'launcher' ? 'bin/approval-cdc.js' : cliEntry(), ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
        timeout: 50_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('approval-cdc mappings check', () => {
  it('exits 1 with every problem as file:line:col path: found; expected, without any environment', async () => {
    const r = await cli(['mappings', 'check', BROKEN], {}, 'launcher');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`1 problem in the mapping files:\n${BROKEN_MESSAGE}\n`);
    expect(r.stdout).toBe('');
  });

  it('reports the problems of several files at once, including the ones across files', async () => {
    const r = await cli(['mappings', 'check', BROKEN, 'test/support/broken-mappings/bad-time-zone.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')).toEqual([
      '4 problems in the mapping files:',
      BROKEN_MESSAGE,
      'test/support/broken-mappings/bad-time-zone.yaml:4:14 defaults.time_zone: "Asia/Shangai"; expected an IANA time zone such as Asia/Shanghai',
      `test/support/broken-mappings/bad-time-zone.yaml:8:11 mappings[0].name: "oa-request", already the name of ${BROKEN} mappings[0]; expected a mapping name used once`,
      `test/support/broken-mappings/bad-time-zone.yaml:12:11 mappings[0].instance.id: "oa-req-{req_id}", the same template as mappings[0].instance.id in ${BROKEN}; expected an id prefix of its own, or instance filters (where) that provably separate the two mappings of oa.requests`,
      '',
    ]);
  });

  it('prints all five problems of a file with five, schema and compiler problems alike', async () => {
    const r = await cli(['mappings', 'check', 'test/support/broken-mappings/five-problems.yaml']);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('5 problems in the mapping files:');
    expect(lines.slice(1).map((l) => l.split(' ')[1])).toEqual([
      'defaults.time_zone:',
      'mappings[0].update_mode:',
      'mappings[0].instance.status.values["2"]:',
      'mappings[0].instance.titel:',
      'mappings[0].tasks[0].id:',
    ]);
  });

  it('exits 1 naming a path that does not exist', async () => {
    const r = await cli(['mappings', 'check', 'no/such.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      '1 problem in the mapping files:\nno/such.yaml:1:1 (root): no such file or directory; expected a mapping file or a directory of them\n',
    );
  });

  it('exits 0 on the example mappings with one summary line per mapping', async () => {
    const r = await cli(['mappings', 'check', 'mappings', 'mappings/examples']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'oa-request: instance oa.requests (key req_id); tasks oa.steps; ccs oa.cc; reads oa.cc, oa.requests, oa.steps, oa.users; in mappings/legacy-approval.yaml',
      'procurement: instance proc.documents (key doc_id); tasks proc.document_lines (filtered); ccs proc.document_lines (filtered); reads proc.departments, proc.document_lines, proc.documents, proc.employees; in mappings/examples/procurement.yaml',
      '',
    ]);
  });

  it(
    'checks the configured mappings when given no file: the default, --mappings or APPROVAL_CDC_MAPPINGS',
    { timeout: 120_000 },
    async () => {
      const byDefault = await cli(['mappings', 'check']);
      expect(byDefault.code).toBe(0);
      expect(byDefault.stdout).toMatch(/^oa-request: /);
      const byFlag = await cli(['--mappings', BROKEN, 'mappings', 'check']);
      expect(byFlag.code).toBe(1);
      expect(byFlag.stderr).toContain(BROKEN_MESSAGE);
      const byEnv = await cli(['mappings', 'check'], { APPROVAL_CDC_MAPPINGS: 'mappings/examples' });
      expect(byEnv.code).toBe(0);
      expect(byEnv.stdout).toMatch(/^procurement: /);
    },
  );
});

describe('with a legacy database', () => {
  let db: TestDatabase;
  /** The state database, of its own (empty until setup), as with the default embedded store. */
  let stateDb: TestDatabase;
  let sql: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('cli', { empty: true });
    stateDb = await createTestDatabase('clistate', { empty: true });
    sql = testPool({ connectionString: db.url, max: 2 });
    await sql.query(LEGACY_SCHEMA);
    await sql.query(`
      insert into oa.users (user_no, login, display_name, feishu_uid) values (1, 'alice', 'Alice', 'ou_alice'), (2, 'bob', 'Bob', 'ou_bob');
      insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
        values (101, 1, 'Annual leave', 1, 1, 3.5, 'family trip', '2026-11-20 09:00:00', '2026-11-20 09:30:00'),
               (102, 7, 'Unknown form', 1, 1, null, null, '2026-11-20 09:00:00', '2026-11-20 09:30:00');
      insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        values (1001, 101, 1, 'Manager', 2, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00');
      insert into oa.cc (cc_no, req_id, user_no, read_flag, created_at, updated_at)
        values (501, 101, 2, 'Y', '2026-11-20 09:00:00', '2026-11-20 09:10:00');`);
  });
  afterAll(async () => {
    await sql?.end();
    await db?.drop();
    await stateDb?.drop();
  });

  /** The stdout of `preview --live oa-req-101`, for the tests that compare other routes with it. */
  let liveStdout = '';
  const env = () => ({
    APPROVAL_CDC_SOURCE_URL: db.url,
    APPROVAL_CDC_STATE_URL: stateDb.url,
    APPROVAL_CDC_METRICS_ADDRESS: 'off',
  });

  /** The payload the mapping builds from the live rows, computed in-process. */
  async function builtLive(key: string): Promise<ExternalInstance | undefined> {
    const mappings = loadMappings('mappings');
    const ref = { mapping: 'oa-request', key: [key] };
    const client = await sql.connect();
    try {
      const built = mappings.build(ref, await loadInstanceRowsLive(client, mappings, ref));
      return built.kind === 'payload' ? built.payload : undefined;
    } finally {
      client.release();
    }
  }

  async function stateOfSource(): Promise<{ publications: number; slots: number; schema: boolean }> {
    const { rows } = await sql.query<{ publications: number; slots: number; schema: boolean }>(
      `select (select count(*)::int from pg_publication) as publications,
              (select count(*)::int from pg_replication_slots where database = current_database()) as slots,
              exists (select 1 from pg_namespace where nspname = 'approval_cdc') as schema`,
    );
    return rows[0] ?? { publications: -1, slots: -1, schema: true };
  }

  it('a mapping that fails to load never starts a half-configured connector', async () => {
    const r = await cli(['run'], { ...env(), APPROVAL_CDC_MAPPINGS: BROKEN });
    expect(r.code).toBe(2); // a configuration error: fix the files, restarting cannot help
    expect(r.stderr).toContain(`MAPPING_INVALID: 1 problem in the mapping files:\n${BROKEN_MESSAGE}`);
    expect(await stateOfSource()).toEqual({ publications: 0, slots: 0, schema: false });
  });

  it('previews --live the payload of an instance id from the source tables, before any setup', async () => {
    const r = await cli(['mappings', 'preview', '--live', 'oa-req-101'], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    liveStdout = r.stdout;
    const payload = JSON.parse(r.stdout) as ExternalInstance;
    expect(payload).toEqual(await builtLive('101'));
    expect(payload.instance_id).toBe('oa-req-101');
    expect(payload.status).toBe('PENDING');
    expect(payload.user_id).toBe('ou_alice');
    expect(payload.update_mode).toBe('REPLACE');
    expect(payload.task_list?.map((t) => [t.task_id, t.user_id])).toEqual([['oa-step-1001', 'ou_bob']]);
    expect(payload.cc_list?.map((c) => [c.cc_id, c.read_status])).toEqual([['oa-cc-501', 'READ']]);
    // Previewing read only: the source has nothing of the connector yet.
    expect(await stateOfSource()).toEqual({ publications: 0, slots: 0, schema: false });
  });

  it('previews --live by mapping name and key values', async () => {
    const byKey = await cli(['mappings', 'preview', '--live', '--mapping', 'oa-request', '101'], env());
    expect(byKey.code).toBe(0);
    expect(byKey.stdout).toBe(liveStdout);
  });

  it('says absent, unmappable or unknown clearly, with exit 1', { timeout: 120_000 }, async () => {
    const absent = await cli(['mappings', 'preview', '--live', 'oa-req-999'], env());
    expect(absent.code).toBe(1);
    expect(absent.stdout).toBe('');
    expect(absent.stderr).toBe(
      'absent: oa-req-999 (mapping oa-request, oa.requests req_id=999): no instance row in the source database matches the mapping, so nothing would be pushed\n',
    );
    const unmappable = await cli(['mappings', 'preview', '--live', 'oa-req-102'], env());
    expect(unmappable.code).toBe(1);
    expect(unmappable.stderr).toBe(
      'unmappable: mapping oa-request instance req_id=102: oa.requests (req_id=102) field approval_code: is required but evaluated to null ("7" is not in the value map)\n',
    );
    const unknown = await cli(['mappings', 'preview', '--live', 'oa-step-1001'], env());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /^mappings preview: CONFIG_INVALID: "oa-step-1001" is not the instance id of exactly one instance/,
    );
    const wrongMapping = await cli(['mappings', 'preview', '--live', '--mapping', 'oa', '101'], env());
    expect(wrongMapping.code).toBe(1);
    expect(wrongMapping.stderr).toBe(
      'mappings preview: CONFIG_INVALID: no mapping named "oa" is loaded; loaded: oa-request\n',
    );
  });

  it(
    'previews from the replica once set up: the same payload as from the source',
    { timeout: 120_000 },
    async () => {
      const before = await cli(['mappings', 'preview', 'oa-req-101'], env());
      expect(before.code).toBe(1);
      expect(before.stderr).toContain('run `approval-cdc setup` first, or preview with --live');

      // setup checks the Feishu credentials before it creates anything.
      const fake = await startFakeFeishu({ approvalCodes: '*' });
      const setup = await cli(['setup'], {
        ...env(),
        APPROVAL_CDC_LOG_LEVEL: 'silent',
        APPROVAL_CDC_FEISHU_URL: fake.url,
        APPROVAL_CDC_FEISHU_APP_ID: fake.appId,
        APPROVAL_CDC_FEISHU_APP_SECRET: fake.appSecret,
      }).finally(() => fake.close());
      expect(setup.stderr).toBe('');
      expect(setup.code).toBe(0);
      const fromReplica = await cli(['mappings', 'preview', 'oa-req-101'], env());
      expect(fromReplica.stderr).toBe('');
      expect(fromReplica.code).toBe(0);
      expect(fromReplica.stdout).toBe(liveStdout);
      const byKey = await cli(['mappings', 'preview', '--mapping', 'oa-request', '101'], env());
      expect(byKey.stdout).toBe(liveStdout);
    },
  );
});
