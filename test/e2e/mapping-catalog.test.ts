// A mapping that names a column or table the source lacks never starts (issue 14 case 4): offline
// such a mapping looks fine (no `columns:` list to check against), but `run` and `setup` check it
// against the catalog first and refuse with file:line:col, exit 2; `mappings check` says the same when
// the source is reachable, and `doctor` prints the same lines.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toExitCode } from '../../src/cli/exit-codes.js';
import { mappingsCheckCommand } from '../../src/cli/mappings.js';
import { checkMappingFiles } from '../../src/mapping/mapping-loader.js';
import { runDoctorChecks } from '../../src/ops/doctor-checks.js';
import {
  LEGACY_MAPPINGS,
  startConnectorFixture,
  type ConnectorFixture,
} from '../support/connector-fixture.js';

const lineOf = (text: string, needle: string) => text.slice(0, text.indexOf(needle)).split('\n').length;

describe('mappings checked against the source catalog', () => {
  let dir: string;
  let file: string;
  let text: string;
  let fx: ConnectorFixture;
  let expected: RegExp[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'catalog-'));
    file = join(dir, 'typos.yaml');
    text = readFileSync(LEGACY_MAPPINGS, 'utf8')
      .replace(
        "pc_link: 'https://oa.example.com/requests/{req_id}'",
        "pc_link: 'https://oa.example.com/requests/{req_idd}'",
      )
      .replace(
        '      table: oa.requests\n      key: req_id\n',
        "      table: oa.requests\n      key: req_id\n      where: { status_cod: { ne: '0' } }\n",
      )
      .replace('      - table: oa.steps', '      - table: oa.stepz');
    writeFileSync(file, text);
    expected = [
      new RegExp(
        `typos\\.yaml:${lineOf(text, 'pc_link:')}:\\d+ mappings\\[0\\]\\.instance\\.links\\.pc_link: column "req_idd" which oa\\.requests does not have; expected a column of oa\\.requests \\(did you mean req_id\\?\\)`,
      ),
      new RegExp(
        `typos\\.yaml:${lineOf(text, 'status_cod:')}:\\d+ mappings\\[0\\]\\.instance\\.where\\.status_cod: column "status_cod" which oa\\.requests does not have; expected a column of oa\\.requests \\(did you mean status_code\\?\\)`,
      ),
      new RegExp(
        `typos\\.yaml:${lineOf(text, 'oa.stepz')}:\\d+ mappings\\[0\\]\\.tasks\\[0\\]\\.table: table oa\\.stepz which the source database does not have; expected an existing table \\(did you mean oa\\.steps\\?\\)`,
      ),
    ];
    fx = await startConnectorFixture({ noPipeline: true, mappingsPath: file });
  });

  afterAll(async () => {
    await fx?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('run refuses to start, naming each unknown column and table at file:line:col, exit 2', async () => {
    // Offline the file is valid: nothing declares the tables' columns.
    expect(checkMappingFiles(file).ok).toBe(true);
    const error = await fx.startPipeline().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'MAPPING_INVALID' });
    expect(toExitCode(error)).toBe(2);
    for (const line of expected) expect((error as Error).message).toMatch(line);
    expect(fx.fake.pushes()).toEqual([]);
    await fx.stopPipeline();
  });

  it('mappings check reports the same lines when the source is reachable, and exits 1', async () => {
    const err: string[] = [];
    const before = process.env.APPROVAL_CDC_SOURCE_URL;
    process.env.APPROVAL_CDC_SOURCE_URL = fx.settings.sourceUrl;
    try {
      const code = await mappingsCheckCommand(
        { files: [file] },
        { out: () => undefined, err: (t) => void err.push(t) },
      );
      expect(code).toBe(1);
    } finally {
      if (before === undefined) delete process.env.APPROVAL_CDC_SOURCE_URL;
      else process.env.APPROVAL_CDC_SOURCE_URL = before;
    }
    for (const line of expected) expect(err.join('')).toMatch(line);
  });

  it('doctor prints the same located lines under its table findings', async () => {
    const findings = await runDoctorChecks({ settings: fx.settings, mappings: fx.mappings });
    const text = findings.map((f) => f.finding).join('\n');
    for (const line of expected) expect(text).toMatch(line);
  });
});
