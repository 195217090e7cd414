// Build semantics on small inline mappings: deletions, status overrides, composite keys, nulls,
// update mode, unmappable reasons.
import { describe, expect, it } from 'vitest';
import type { BuildResult, ExternalInstanceLike } from '../support/payload-types.js';
import { FakeRows, mappingOf, resolveAndBuild } from '../support/fake-rows.js';

const MAPPING = `
defaults: { time_zone: UTC }
mappings:
  - name: docs
    update_mode: UPDATE
    instance:
      table: app.docs
      key: [region, doc_no]
      where: { kind: { ne: draft } }
      id: 'doc-{region}-{doc_no}'
      approval_code: docs
      status:
        when:
          - if: { removed: true }
            then: DELETED
          - if: { state: [x, y] }
            then: TERMINATED
        else: { map: state, values: { a: PENDING, b: APPROVED } }
      title: { en-US: '{subject}', zh-CN: { column: subject_zh } }
      open_id: { column: owner }
      links: { pc_link: 'https://x/{region}/{doc_no}?s={subject}' }
      extra: { business_key: { column: biz } }
      form:
        - { name: Note, value: { column: note } }
      start_time: { time: created }
      end_time: { time: closed }
      update_time: { time: changed }
    tasks:
      - table: app.steps
        key: [region, doc_no, step]
        parent: [region, doc_no]
        on_delete: { status: DONE }
        id: 'step-{region}-{doc_no}-{step}'
        open_id: { column: who }
        status: { map: st, values: { w: PENDING, ok: APPROVED } }
        create_time: { time: created }
        node_name: { column: node }
    ccs:
      - table: app.ccs
        key: [region, doc_no, n]
        parent: [region, doc_no]
        on_delete: keep
        id: 'cc-{region}-{doc_no}-{n}'
        open_id: { column: who }
        read_status: { map: seen, values: { t: READ, f: UNREAD } }
        create_time: { time: created }
        update_time: { time: created }
`;
const set = mappingOf(MAPPING);
const ref = { mapping: 'docs', key: ['eu', '7'] };
const doc = {
  region: 'eu',
  doc_no: '7',
  kind: 'normal',
  removed: 'f',
  state: 'a',
  subject: 'Order',
  subject_zh: '订单',
  owner: 'ou_1',
  biz: 'B-7',
  note: null,
  created: '2026-01-02 03:04:05+00',
  closed: null,
  changed: '2026-01-02 03:05:00+00',
};
const step = (n: string, extra: Record<string, string | null> = {}) => ({
  region: 'eu',
  doc_no: '7',
  step: n,
  who: `ou_${n}`,
  st: 'w',
  created: '2026-01-02 03:04:05+00',
  node: 'Check',
  ...extra,
});
const cc = (n: string) => ({
  region: 'eu',
  doc_no: '7',
  n,
  who: 'ou_c',
  seen: 'f',
  created: '2026-01-02 03:04:05+00',
});

function build(rows: (db: FakeRows) => FakeRows): BuildResult {
  return resolveAndBuild(set, ref, rows(new FakeRows())).result;
}
function payload(rows: (db: FakeRows) => FakeRows): ExternalInstanceLike {
  const r = build(rows);
  if (r.kind !== 'payload') throw new Error(JSON.stringify(r));
  return r.payload;
}

describe('payload builder', () => {
  it('uses a composite instance key everywhere', () => {
    expect(set.externalId(ref)).toBe('doc-eu-7');
    expect(set.instancesOfRow('app.steps', step('1'))).toEqual([ref]);
    expect(set.queriesFor(ref, { rows: () => undefined })).toEqual([
      { table: 'app.docs', match: { region: 'eu', doc_no: '7' } },
      { table: 'app.steps', match: { region: 'eu', doc_no: '7' } },
      { table: 'app.ccs', match: { region: 'eu', doc_no: '7' } },
    ]);
    expect(set.tables.get('app.steps')?.keyColumns).toEqual(['region', 'doc_no', 'step']);
  });

  it('builds with UPDATE mode, omits null optional fields and null form entries', () => {
    const p = payload((db) => db.add('app.docs', doc).add('app.steps', step('2'), step('10'), step('1')));
    expect(
      build((db) => db.add('app.docs', doc)).kind === 'payload' && build((db) => db.add('app.docs', doc)),
    ).toMatchObject({ updateMode: 'UPDATE' });
    expect(p).toMatchObject({
      status: 'PENDING',
      update_mode: 'UPDATE',
      open_id: 'ou_1',
      extra: '{"business_key":"B-7"}',
      form: [],
      end_time: '0',
    });
    expect(p.links).toEqual({ pc_link: 'https://x/eu/7?s=Order' });
    expect(p.task_list?.map((t) => t.task_id)).toEqual(['step-eu-7-1', 'step-eu-7-2', 'step-eu-7-10']);
    // one node name text shared by the three tasks
    expect(p.task_list?.map((t) => t.node_name)).toEqual([
      '@i18n@task.0.node_name',
      '@i18n@task.0.node_name',
      '@i18n@task.0.node_name',
    ]);
    expect(p.i18n_resources).toEqual([
      {
        locale: 'zh-CN',
        is_default: true,
        texts: [
          { key: '@i18n@title', value: '订单' },
          { key: '@i18n@task.0.node_name', value: 'Check' },
        ],
      },
      { locale: 'en-US', is_default: false, texts: [{ key: '@i18n@title', value: 'Order' }] },
    ]);
  });

  it('null in a template is an empty text; a null default-locale text drops the field', () => {
    const p = payload((db) => db.add('app.docs', { ...doc, subject: null, subject_zh: null, biz: null }));
    expect(p.links.pc_link).toBe('https://x/eu/7?s=');
    expect(p.title).toBeUndefined();
    expect(p.extra).toBeUndefined();
    expect(p.i18n_resources).toEqual([{ locale: 'zh-CN', is_default: true, texts: [] }]);
  });

  it('status: the first matching when wins over the value map', () => {
    expect(payload((db) => db.add('app.docs', { ...doc, state: 'b' })).status).toBe('APPROVED');
    expect(payload((db) => db.add('app.docs', { ...doc, state: 'y' })).status).toBe('TERMINATED');
    expect(payload((db) => db.add('app.docs', { ...doc, state: 'y', removed: 't' })).status).toBe('DELETED');
  });

  it('a filtered-out or never-seen instance is absent', () => {
    expect(build((db) => db.add('app.docs', { ...doc, kind: 'draft' }))).toEqual({ kind: 'absent' });
    expect(build((db) => db)).toEqual({ kind: 'absent' });
  });

  it('deleted tasks stay with the configured status, deleted CCs stay as they were', () => {
    const p = payload((db) =>
      db
        .add('app.docs', doc)
        .add('app.steps', step('1'))
        .tombstone('app.steps', step('2', { st: 'ok' }))
        .tombstone('app.ccs', cc('1')),
    );
    expect(p.task_list?.map((t) => [t.task_id, t.status])).toEqual([
      ['step-eu-7-1', 'PENDING'],
      ['step-eu-7-2', 'DONE'],
    ]);
    expect(p.cc_list?.map((c) => [c.cc_id, c.read_status])).toEqual([['cc-eu-7-1', 'UNREAD']]);
  });

  it('a deleted instance is pushed as DELETED without tasks; on_delete: ignore makes it absent', () => {
    const p = payload((db) => db.tombstone('app.docs', doc).add('app.steps', step('1')));
    expect([p.status, p.task_list, p.cc_list]).toEqual(['DELETED', [], []]);
    const ignoring = mappingOf(MAPPING.replace('where: { kind: { ne: draft } }', 'on_delete: ignore'));
    expect(resolveAndBuild(ignoring, ref, new FakeRows().tombstone('app.docs', doc)).result).toEqual({
      kind: 'absent',
    });
  });

  it('unmappable: names mapping, row key and field for every problem; never throws', () => {
    const r = build((db) =>
      db
        .add('app.docs', { ...doc, state: 'zz', owner: null, created: 'not a time' })
        .add('app.steps', step('1', { who: null, st: 'ok' })),
    );
    expect(r).toEqual({
      kind: 'unmappable',
      reason:
        'mapping docs instance region=eu, doc_no=7: app.docs (region=eu, doc_no=7) field status: is required but evaluated to null ("zz" is not in the value map); ' +
        'app.docs (region=eu, doc_no=7) field open_id: is required but evaluated to null; ' +
        'app.docs (region=eu, doc_no=7) field start_time: "not a time" is not a Postgres date or timestamp; ' +
        'task app.steps (region=eu, doc_no=7, step=1) field open_id: is required but evaluated to null',
    });
  });

  it('refuses a payload whose rows produce the same id twice', () => {
    const twice = mappingOf(
      MAPPING.replace("id: 'step-{region}-{doc_no}-{step}'", "id: 'step-{region}-{doc_no}-{step}{who}'"),
    );
    const r = resolveAndBuild(
      twice,
      ref,
      new FakeRows().add('app.docs', doc).add('app.steps', step('1', { who: '2' }), step('12', { who: '' })),
    ).result;
    expect(r.kind === 'unmappable' && r.reason).toBe(
      'mapping docs instance region=eu, doc_no=7: task app.steps (region=eu, doc_no=7, step=12): id "step-eu-7-12" is also the task app.steps (region=eu, doc_no=7, step=1)',
    );
  });
});
