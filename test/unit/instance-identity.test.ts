// The two optional MappingSet members used outside the build: refOfExternalId (external id back to
// its instance, for `mappings preview`) and instanceRank (backfill priority from the instance row).
import { describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { mappingOf } from '../support/fake-rows.js';

const legacy = loadMappings('mappings/legacy-approval.yaml');
const procurement = loadMappings('mappings/examples/procurement.yaml');
const DOC = '6f1c2b9e-0d3a-4c55-9a1e-2f0b7d8e4a11';

const composite = mappingOf(`
defaults: { time_zone: UTC }
mappings:
  - name: docs
    instance:
      table: app.docs
      key: [region, doc_no]
      where: { kind: { ne: draft } }
      id: 'doc-{region}-{doc_no}'
      approval_code: docs
      status: { map: state, values: { a: PENDING, b: APPROVED } }
      open_id: { column: owner }
      links: { pc_link: 'https://x/{doc_no}' }
      start_time: { time: created }
      update_time: { time: changed }
  - name: twice
    instance:
      table: app.twice
      key: k
      id: 'tw-{k}/{k}'
      approval_code: t
      status: { lookup: states, by: state_id, get: feishu_status }
      open_id: { column: owner }
      links: { pc_link: 'https://x/{k}' }
      start_time: { time: created, format: 'YYYY-MM-DD' }
      update_time: { time: changed }
    lookups:
      states: { table: app.states, key: state_id }
`);

const sharedTemplate = mappingOf(`
defaults: { time_zone: UTC }
mappings:
  - name: leave
    instance:
      table: app.req
      key: id
      where: { kind: L }
      id: 'req-{id}'
      approval_code: leave
      status: PENDING
      open_id: { column: owner }
      links: { pc_link: 'https://x/{id}' }
      start_time: { time: created }
      update_time: { time: created }
  - name: expense
    instance:
      table: app.req
      key: id
      where: { kind: E }
      id: 'req-{id}'
      approval_code: expense
      status: PENDING
      open_id: { column: owner }
      links: { pc_link: 'https://x/{id}' }
      start_time: { time: created }
      update_time: { time: created }
`);

describe('refOfExternalId', () => {
  it('reads the instance key back out of an instance id', () => {
    expect(legacy.refOfExternalId('oa-req-101')).toEqual({ mapping: 'oa-request', key: ['101'] });
    expect(procurement.refOfExternalId(`proc-doc-${DOC}`)).toEqual({ mapping: 'procurement', key: [DOC] });
  });

  it('reads every column of a composite key, in key order', () => {
    expect(composite.refOfExternalId('doc-eu-7')).toEqual({ mapping: 'docs', key: ['eu', '7'] });
    expect(composite.externalId({ mapping: 'docs', key: ['eu', '7'] })).toBe('doc-eu-7');
  });

  it('answers null for ids no instance template renders: task ids, other prefixes, partial ids', () => {
    expect(legacy.refOfExternalId('oa-step-1001')).toBeNull();
    expect(legacy.refOfExternalId('proc-doc-1')).toBeNull();
    expect(legacy.refOfExternalId('oa-req')).toBeNull();
  });

  it('answers null when an id can be cut into the key in more than one way', () => {
    // eu-west + 7, or eu + west-7: the id alone cannot tell.
    expect(composite.refOfExternalId('doc-eu-west-7')).toBeNull();
  });

  it('requires a column placed twice in the template to read the same value both times', () => {
    expect(composite.refOfExternalId('tw-9/9')).toEqual({ mapping: 'twice', key: ['9'] });
    expect(composite.refOfExternalId('tw-9/8')).toBeNull();
  });

  it('answers null when mappings over one table share the template (only the row tells them apart)', () => {
    expect(sharedTemplate.refOfExternalId('req-5')).toBeNull();
  });
});

describe('instanceRank', () => {
  const request = (status: string, extra: Record<string, string | null> = {}) => ({
    req_id: '101',
    form_type: '1',
    title: 't',
    applicant_no: '1',
    status_code: status,
    submitted_at: '2026-11-20 09:00:00',
    updated_at: '2026-11-20 09:00:00',
    ...extra,
  });

  it('ranks a pending request open, with its start time from the instance row', () => {
    expect(legacy.instanceRank('oa.requests', request('1'))).toMatchObject({
      ref: { mapping: 'oa-request', key: ['101'] },
      open: true,
      // 09:00 in Asia/Shanghai is 01:00 UTC.
      startMs: Date.UTC(2026, 10, 20, 1, 0, 0),
    });
  });

  it('ranks finished requests closed', () => {
    for (const code of ['2', '3', '4', '9', '0'])
      expect(legacy.instanceRank('oa.requests', request(code))?.open).toBe(false);
  });

  it('does not rank rows that are no instance row: task tables, filtered rows, null keys', () => {
    expect(legacy.instanceRank('oa.steps', { step_id: '1', req_id: '101' })).toBeNull();
    expect(legacy.instanceRank('oa.requests', request('1', { req_id: null }))).toBeNull();
    expect(
      composite.instanceRank('app.docs', { region: 'eu', doc_no: '1', kind: 'draft', state: 'a' }),
    ).toBeNull();
  });

  it('reads the status through when and map, and the start from a date and a time column', () => {
    const doc = {
      doc_id: DOC,
      status: 'submitted',
      is_deleted: 'f',
      created_date: '20260704',
      created_time: '081500',
    };
    // 08:15 in Europe/Berlin (summer) is 06:15 UTC.
    const startMs = Date.UTC(2026, 6, 4, 6, 15, 0);
    expect(procurement.instanceRank('proc.documents', doc)).toMatchObject({
      ref: { mapping: 'procurement', key: [DOC] },
      open: true,
      startMs,
    });
    expect(procurement.instanceRank('proc.documents', { ...doc, is_deleted: 't' })?.open).toBe(false);
    expect(procurement.instanceRank('proc.documents', { ...doc, status: 'approved' })?.open).toBe(false);
  });

  it('ranks a status that needs a lookup as open, and a start it cannot read as 0', () => {
    expect(
      composite.instanceRank('app.twice', { k: '1', state_id: '3', created: 'yesterday' }),
    ).toMatchObject({
      ref: { mapping: 'twice', key: ['1'] },
      open: true,
      startMs: 0,
    });
  });

  it('ranks a status code the value map does not know as open (it cannot be told closed)', () => {
    expect(legacy.instanceRank('oa.requests', request('77'))?.open).toBe(true);
  });
});
