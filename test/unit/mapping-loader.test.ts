import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCdcError } from '../../src/errors.js';
import {
  checkMappingFiles,
  checkMappingTexts,
  loadMappings,
  loadMappingTexts,
} from '../../src/mapping/mapping-loader.js';

const mapping = (name: string, table: string, id: string): string => `
mappings:
  - name: ${name}
    time_zone: UTC
    instance:
      table: ${table}
      key: id
      columns: [state, created]
      id: '${id}'
      approval_code: x
      status: { map: state, values: { 1: PENDING } }
      links: { pc_link: 'https://x/{id}' }
      start_time: { time: created }
      update_time: { time: created }
`;

describe('mapping loader', () => {
  it('loads every .yaml of a directory, in name order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mappings-'));
    writeFileSync(join(dir, 'b.yaml'), mapping('bee', 'app.b', 'b-{id}'));
    writeFileSync(join(dir, 'a.yml'), mapping('ay', 'app.a', 'a-{id}'));
    writeFileSync(join(dir, 'notes.txt'), 'not a mapping');
    const set = loadMappings(dir);
    expect(set.mappingNames).toEqual(['ay', 'bee']);
    expect([...set.tables.keys()]).toEqual(['app.a', 'app.b']);
  });

  it('loads the default mappings directory and the example beside it', () => {
    expect(loadMappings(['mappings', 'mappings/examples/procurement.yaml']).mappingNames).toEqual([
      'oa-request',
      'procurement',
    ]);
    expect(checkMappingFiles('mappings')).toEqual({ ok: true, errors: [] });
  });

  it('refuses duplicate names and colliding instance ids across files, all at once', () => {
    const result = checkMappingTexts([
      { file: 'one.yaml', text: mapping('docs', 'app.a', 'doc-{id}') },
      { file: 'two.yaml', text: mapping('docs', 'app.b', 'doc-b-{id}') },
    ]);
    expect(result.errors.map((e) => e.message)).toEqual([
      'two.yaml:3:11 mappings[0].name: "docs", already the name of one.yaml mappings[0]; expected a mapping name used once',
      'two.yaml:9:11 mappings[0].instance.id: "doc-b-{id}", a constant prefix "doc-b-" that overlaps "doc-" of mappings[0].instance.id in one.yaml; expected an id template whose constant prefix is not a prefix of another mapping\'s (instance, task and CC ids share one space)',
    ]);
  });

  it('lets two mappings of one table share an id template only when their filters provably separate the rows', () => {
    const split = (where: string) => (text: string) =>
      text.replace('key: id', `key: id\n      where: ${where}`);
    const set = loadMappingTexts([
      { file: 'one.yaml', text: split('{ state: 1 }')(mapping('leave', 'app.a', 'req-{id}')) },
      { file: 'two.yaml', text: split('{ state: [2, 3] }')(mapping('expense', 'app.a', 'req-{id}')) },
    ]);
    expect(set.mappingNames).toEqual(['leave', 'expense']);
    const overlapping = checkMappingTexts([
      { file: 'one.yaml', text: split('{ state: 1 }')(mapping('leave', 'app.a', 'req-{id}')) },
      { file: 'two.yaml', text: split('{ state: { ne: 2 } }')(mapping('expense', 'app.a', 'req-{id}')) },
    ]);
    expect(overlapping.errors.map((e) => e.message)).toEqual([
      'two.yaml:10:11 mappings[0].instance.id: "req-{id}", the same template as mappings[0].instance.id in one.yaml; expected an id prefix of its own, or instance filters (where) that provably separate the two mappings of app.a',
    ]);
  });

  it("refuses a task id of one mapping that can equal another mapping's instance id", () => {
    const withTask = mapping('leave', 'app.a', 'leave-{id}').concat(`    tasks:
      - table: app.steps
        key: step
        parent: id
        columns: [state, created]
        id: 'oa-req-{step}'
        status: { map: state, values: { 1: PENDING } }
        create_time: { time: created }
`);
    const result = checkMappingTexts([
      { file: 'one.yaml', text: mapping('requests', 'app.r', 'oa-req-{id}') },
      { file: 'two.yaml', text: withTask },
    ]);
    expect(result.errors.map((e) => e.message)).toEqual([
      'two.yaml:20:13 mappings[0].tasks[0].id: "oa-req-{step}", a constant prefix "oa-req-" that overlaps "oa-req-" of mappings[0].instance.id in one.yaml; expected an id template whose constant prefix is not a prefix of another mapping\'s (instance, task and CC ids share one space)',
    ]);
  });

  it('throws MAPPING_INVALID listing every problem, and never returns a partial set', () => {
    let thrown: unknown;
    try {
      loadMappingTexts([
        { file: 'good.yaml', text: mapping('good', 'app.a', 'a-{id}') },
        {
          file: 'bad.yaml',
          text: mapping('bad', 'app.b', 'b-{id}').replace(
            'key: id',
            'key: id\n      where: { nope: { like: 1 } }',
          ),
        },
      ]);
    } catch (err) {
      thrown = err;
    }
    expect(isCdcError(thrown, 'MAPPING_INVALID')).toBe(true);
    expect((thrown as Error).message).toBe(
      '2 problems in the mapping files:\n' +
        'bad.yaml:8:16 mappings[0].instance.where.nope: column "nope" which is not declared for app.b; expected one of id, state, created\n' +
        'bad.yaml:8:24 mappings[0].instance.where.nope.like: unknown condition "like"; expected one of eq, ne, in, not_in, is_null',
    );
  });

  it('reports missing files and empty directories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'empty-'));
    expect(checkMappingFiles(['no/such/file.yaml', dir]).errors.map((e) => e.message)).toEqual(
      [
        'no/such/file.yaml:1:1 (root): no such file or directory; expected a mapping file or a directory of them',
        `${dir}:1:1 (root): a directory without .yaml files; expected at least one mapping file`,
      ].sort(),
    );
  });
});
