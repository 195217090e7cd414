// The second example (mappings/examples/procurement.yaml): uuid keys, jsonb form, enum status,
// soft deletes, text dates and times, tasks and CCs in one table with a composite key.
import { describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { FakeRows, resolveAndBuild } from '../support/fake-rows.js';

const set = loadMappings('mappings/examples/procurement.yaml');
const DOC = '6f1c2b9e-0d3a-4c55-9a1e-2f0b7d8e4a11';
const ref = { mapping: 'procurement', key: [DOC] };
const BOB = 'a1111111-1111-4111-8111-111111111111';
const EVE = 'b2222222-2222-4222-8222-222222222222';
const DEPT = 'c3333333-3333-4333-8333-333333333333';

const line = (no: string, kind: string, who: string, extra: Record<string, string | null> = {}) => ({
  doc_id: DOC,
  line_no: no,
  kind,
  employee_id: who,
  node_code: 'FINANCE',
  decision: null,
  seen: 'f',
  created_date: '20260704',
  created_time: '081500',
  decided_date: null,
  decided_time: null,
  modified_at: '2026-07-04 06:20:00+00',
  removed_at: null,
  ...extra,
});

function proc(doc: Record<string, string | null> = {}): FakeRows {
  return new FakeRows()
    .add('proc.departments', { dept_id: DEPT, name: 'Purchasing', lark_dept_id: 'od-purchasing' })
    .add('proc.employees', { emp_id: BOB, full_name: 'Bob', lark_open_id: 'ou_bob', dept_id: DEPT })
    .add('proc.employees', { emp_id: EVE, full_name: 'Eve', lark_open_id: 'ou_eve', dept_id: null })
    .add('proc.documents', {
      doc_id: DOC,
      category: 'PO',
      subject: null,
      owner_id: BOB,
      status: 'submitted',
      form: '{"number": "PO-2026-0042", "supplier": {"name": "ACME GmbH"}, "total": 1234567.5}',
      tags: '{urgent,"IT hardware"}',
      created_date: '20260704',
      created_time: '081500',
      closed_date: null,
      closed_time: '',
      modified_at: '2026-07-04 06:30:00.25+00',
      is_deleted: 'f',
      ...doc,
    })
    .add(
      'proc.document_lines',
      line('1', 'APPROVER', EVE, {
        decision: 'OK',
        node_code: 'BUYER',
        decided_date: '20260704',
        decided_time: '090000',
      }),
    )
    .add('proc.document_lines', line('2', 'APPROVER', BOB))
    .add('proc.document_lines', line('3', 'CC', EVE, { seen: 't' }))
    .add('proc.document_lines', line('4', 'APPROVER', EVE, { removed_at: '2026-07-04 07:00:00+00' }));
}

// 2026-07-04 08:15:00 Europe/Berlin (CEST, UTC+2) = 06:15:00Z
const CREATED = String(Date.UTC(2026, 6, 4, 6, 15));

describe('procurement mapping', () => {
  it('reads the line table once, with its composite key and the filter columns', () => {
    expect(set.tables.get('proc.document_lines')).toEqual({
      table: 'proc.document_lines',
      columns: [
        'created_date',
        'created_time',
        'decided_date',
        'decided_time',
        'decision',
        'doc_id',
        'employee_id',
        'kind',
        'line_no',
        'modified_at',
        'node_code',
        'removed_at',
        'seen',
      ],
      keyColumns: ['doc_id', 'line_no'],
    });
    expect(set.tables.get('proc.employees')?.columns).toEqual(['dept_id', 'emp_id', 'lark_open_id']);
    expect(set.tables.get('proc.departments')?.columns).toEqual(['dept_id', 'lark_dept_id']);
  });

  it('sends approver and CC lines to their document; removed lines and other kinds nowhere', () => {
    expect(set.instancesOfRow('proc.document_lines', line('2', 'APPROVER', BOB))).toEqual([ref]);
    expect(set.instancesOfRow('proc.document_lines', line('3', 'CC', EVE))).toEqual([ref]);
    expect(set.instancesOfRow('proc.document_lines', line('5', 'NOTE', EVE))).toEqual([]);
    expect(
      set.instancesOfRow(
        'proc.document_lines',
        line('4', 'APPROVER', EVE, { removed_at: '2026-07-04 07:00:00+00' }),
      ),
    ).toEqual([]);
  });

  it('follows the chained lookup back: department -> employees -> documents', () => {
    expect(set.dependentsOfRow('proc.departments', { dept_id: DEPT })).toEqual([
      { table: 'proc.employees', match: { dept_id: DEPT } },
    ]);
    expect(set.dependentsOfRow('proc.employees', { emp_id: BOB, dept_id: DEPT })).toEqual([
      { table: 'proc.documents', match: { owner_id: BOB } },
      { table: 'proc.document_lines', match: { employee_id: BOB } },
    ]);
  });

  it('needs three rounds of queries for the chained lookup', () => {
    const { rounds } = resolveAndBuild(set, ref, proc());
    expect(rounds).toEqual([
      [
        { table: 'proc.documents', match: { doc_id: DOC } },
        { table: 'proc.document_lines', match: { doc_id: DOC } },
      ],
      [
        { table: 'proc.employees', match: { emp_id: BOB } },
        { table: 'proc.employees', match: { emp_id: EVE } },
      ],
      [{ table: 'proc.departments', match: { dept_id: DEPT } }],
    ]);
  });

  it('builds the payload', () => {
    const { result } = resolveAndBuild(set, ref, proc());
    expect(result.kind).toBe('payload');
    if (result.kind !== 'payload') return;
    const links = {
      pc_link: `https://erp.example.com/docs/${DOC}`,
      mobile_link: `https://erp.example.com/m/docs/${DOC}`,
    };
    expect(result.payload).toEqual({
      approval_code: 'proc-purchase-order',
      status: 'PENDING',
      extra: '{"business_key":"PO-2026-0042"}',
      instance_id: `proc-doc-${DOC}`,
      links,
      title: '@i18n@title',
      form: [
        { name: '@i18n@form.0.name', value: '@i18n@form.0.value' },
        { name: '@i18n@form.1.name', value: '@i18n@form.1.value' },
        { name: '@i18n@form.2.name', value: '@i18n@form.2.value' },
      ],
      open_id: 'ou_bob',
      department_id: 'od-purchasing',
      start_time: CREATED,
      end_time: '0',
      update_time: String(Date.UTC(2026, 6, 4, 6, 30, 0, 250)),
      display_method: 'BROWSER',
      update_mode: 'REPLACE',
      task_list: [
        {
          task_id: `proc-task-${DOC}-1`,
          open_id: 'ou_eve',
          links,
          status: 'APPROVED',
          create_time: CREATED,
          end_time: String(Date.UTC(2026, 6, 4, 7)),
          update_time: String(Date.UTC(2026, 6, 4, 6, 20)),
          node_id: 'BUYER',
          node_name: '@i18n@task.0.node_name',
        },
        {
          task_id: `proc-task-${DOC}-2`,
          open_id: 'ou_bob',
          links,
          status: 'PENDING',
          create_time: CREATED,
          end_time: '0',
          update_time: String(Date.UTC(2026, 6, 4, 6, 20)),
          node_id: 'FINANCE',
          node_name: '@i18n@task.1.node_name',
        },
      ],
      cc_list: [
        {
          cc_id: `proc-cc-${DOC}-3`,
          open_id: 'ou_eve',
          links,
          read_status: 'READ',
          create_time: CREATED,
          update_time: String(Date.UTC(2026, 6, 4, 6, 20)),
        },
      ],
      i18n_resources: [
        {
          locale: 'en-US',
          is_default: true,
          texts: [
            { key: '@i18n@title', value: `Document ${DOC}` },
            { key: '@i18n@form.0.name', value: 'Supplier' },
            { key: '@i18n@form.0.value', value: 'ACME GmbH' },
            { key: '@i18n@form.1.name', value: 'Total' },
            { key: '@i18n@form.1.value', value: '1,234,567.50' },
            { key: '@i18n@form.2.name', value: 'Tags' },
            { key: '@i18n@form.2.value', value: 'urgent, IT hardware' },
            { key: '@i18n@task.0.node_name', value: 'Buyer' },
            { key: '@i18n@task.1.node_name', value: 'Finance' },
          ],
        },
        {
          locale: 'zh-CN',
          is_default: false,
          texts: [
            { key: '@i18n@title', value: `单据 ${DOC}` },
            { key: '@i18n@form.0.name', value: '供应商' },
            { key: '@i18n@form.1.name', value: '金额' },
            { key: '@i18n@form.2.name', value: '标签' },
            { key: '@i18n@task.0.node_name', value: '采购' },
            { key: '@i18n@task.1.node_name', value: '财务' },
          ],
        },
      ],
    });
  });

  it('maps the enum, and the soft-delete flag overrides it', () => {
    const statuses: [Record<string, string>, string][] = [
      [{ status: 'draft' }, 'HIDDEN'],
      [{ status: 'approved' }, 'APPROVED'],
      [{ status: 'withdrawn' }, 'CANCELED'],
      [{ status: 'approved', is_deleted: 't' }, 'DELETED'],
    ];
    for (const [doc, status] of statuses) {
      const { result } = resolveAndBuild(set, ref, proc(doc));
      expect(result.kind === 'payload' && result.payload.status).toBe(status);
    }
  });

  it('chooses the approval code per row and closes with the two-column end time', () => {
    const { result } = resolveAndBuild(
      set,
      ref,
      proc({ category: 'PAYMENT', closed_date: '20261215', closed_time: '170000' }),
    );
    // 2026-12-15 17:00 Europe/Berlin (CET, UTC+1) = 16:00Z
    expect(result.kind === 'payload' && [result.payload.approval_code, result.payload.end_time]).toEqual([
      'proc-payment',
      String(Date.UTC(2026, 11, 15, 16)),
    ]);
  });

  it('parks a document whose category has no approval code', () => {
    const { result } = resolveAndBuild(set, ref, proc({ category: 'MISC' }));
    expect(result).toEqual({
      kind: 'unmappable',
      reason: `mapping procurement instance doc_id=${DOC}: proc.documents (doc_id=${DOC}) field approval_code: is required but evaluated to null ("MISC" is not in the value map)`,
    });
  });
});
