// The second example schema (examples/second-schema, mappings/examples/procurement.yaml) through the
// whole pipeline: uuid keys, a jsonb form, an enum status with a soft-delete flag, text dates and
// times in two columns, approvers and CCs in one table with a composite key, a chained lookup.
// Every step converges: Feishu ends up holding what the mapping builds from the live rows.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExternalInstance } from '../../src/feishu/external-instance.js';
import { quoteTable } from '../../src/source/catalog.js';
import { FakeRows, resolveAndBuild } from '../support/fake-rows.js';
import {
  startConnectorFixture,
  waitFor,
  waitForConvergence,
  type ConnectorFixture,
} from '../support/connector-fixture.js';

const SCHEMA = readFileSync(new URL('../../examples/second-schema/schema.sql', import.meta.url), 'utf8');
const MAPPINGS = new URL('../../mappings/examples/procurement.yaml', import.meta.url).pathname;

const PURCHASING = 'c3333333-3333-4333-8333-333333333333';
const FINANCE = 'c4444444-4444-4444-8444-444444444444';
const BOB = 'a1111111-1111-4111-8111-111111111111';
const EVE = 'b2222222-2222-4222-8222-222222222222';
const CARL = 'b3333333-3333-4333-8333-333333333333';
const DOC_A = '6f1c2b9e-0d3a-4c55-9a1e-2f0b7d8e4a11';
const DOC_B = '7a2d3c0f-1e4b-4d66-8b2f-3a1c8e9f5b22';
const DOC_C = '8b3e4d1a-2f5c-4e77-9c3a-4b2d9fa06c33';

/** The texts users see: i18n keys of the default locale resolved. */
function textsOf(inst: ExternalInstance | undefined): (key: string | undefined) => string | undefined {
  const texts = new Map<string, string>();
  for (const r of inst?.i18n_resources ?? [])
    if (r.is_default) for (const t of r.texts) texts.set(t.key, t.value);
  return (key) => (key === undefined ? undefined : (texts.get(key) ?? key));
}

const docId = (doc: string) => `proc-doc-${doc}`;

/**
 * What Feishu should hold: the mapping applied to every live source row, read as the text the
 * replication stream delivers: the type's output text, unparsed (t/f for booleans, char(n) with its
 * padding). The fixture's live-rows reader selects `col::text`, which prints booleans as true/false
 * and trims char(n), so it cannot be the oracle for this schema's boolean columns.
 */
async function expectedFromOutputText(fx: ConnectorFixture): Promise<Map<string, ExternalInstance>> {
  const rows = new FakeRows();
  for (const table of fx.mappings.tables.keys()) {
    const { rows: cols } = await fx.sql.query<{ attname: string }>(
      `select attname from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped`,
      [quoteTable(table)],
    );
    const select = cols.map(({ attname }) => `"${attname}"`).join(', ');
    const { rows: images } = await fx.sql.query<Record<string, string | null>>({
      text: `select ${select} from ${quoteTable(table)}`,
      types: { getTypeParser: () => (text: string) => text },
    });
    rows.add(table, ...images);
  }
  const refs = new Map<string, { mapping: string; key: readonly string[] }>();
  for (const [table, list] of rows.tables)
    for (const { values } of list)
      for (const ref of fx.mappings.instancesOfRow(table, values)) refs.set(JSON.stringify(ref), ref);
  const out = new Map<string, ExternalInstance>();
  for (const ref of refs.values()) {
    const { result } = resolveAndBuild(fx.mappings, ref, rows);
    if (result.kind === 'payload') out.set(result.payload.instance_id, result.payload);
  }
  return out;
}

describe('procurement schema to Feishu, end to end', () => {
  let fx: ConnectorFixture;
  const stored = (doc: string) => fx.fake.instance(docId(doc));

  beforeAll(async () => {
    fx = await startConnectorFixture({ schemaSql: SCHEMA, mappingsPath: MAPPINGS });
    fx.expectedInstances = () => expectedFromOutputText(fx);
    await fx.sql.query(`
      insert into proc.departments (dept_id, name, lark_dept_id) values
        ('${PURCHASING}', 'Purchasing', 'od-purchasing'), ('${FINANCE}', 'Finance', 'od-finance');
      insert into proc.employees (emp_id, full_name, lark_open_id, dept_id) values
        ('${BOB}', 'Bob', 'ou_bob', '${PURCHASING}'),
        ('${EVE}', 'Eve', 'ou_eve', '${FINANCE}'),
        ('${CARL}', 'Carl', 'ou_carl', null);`);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('brings a new document with approver and CC lines to Feishu as one instance', async () => {
    await fx.sql.query(`begin;
      insert into proc.documents (doc_id, category, subject, owner_id, status, form, tags, created_date, created_time,
          closed_date, closed_time, modified_at)
        values ('${DOC_A}', 'PO', null, '${BOB}', 'submitted',
          '{"number": "PO-2026-0042", "supplier": {"name": "ACME GmbH"}, "total": 1234567.5}',
          '{urgent,"IT hardware"}', '20260704', '081500', '', '', '2026-07-04 06:30:00.25+00');
      insert into proc.document_lines (doc_id, line_no, kind, employee_id, node_code, created_date, created_time, modified_at)
        values ('${DOC_A}', 1, 'APPROVER', '${EVE}', 'BUYER', '20260704', '081500', '2026-07-04 06:20:00+00'),
               ('${DOC_A}', 2, 'APPROVER', '${CARL}', 'FINANCE', '20260704', '081500', '2026-07-04 06:20:00+00'),
               ('${DOC_A}', 3, 'CC', '${CARL}', null, '20260704', '081500', '2026-07-04 06:20:00+00');
      commit;`);
    await waitForConvergence(fx);
    const inst = stored(DOC_A);
    const text = textsOf(inst);
    expect(inst?.approval_code).toBe('proc-purchase-order');
    expect(inst?.status).toBe('PENDING');
    expect(inst?.open_id).toBe('ou_bob');
    expect(inst?.department_id).toBe('od-purchasing'); // employees -> departments, chained
    expect(text(inst?.title)).toBe(`Document ${DOC_A}`);
    expect(inst?.extra).toBe('{"business_key":"PO-2026-0042"}');
    expect(inst?.form?.map((f) => [text(f.name), text(f.value)])).toEqual([
      ['Supplier', 'ACME GmbH'],
      ['Total', '1,234,567.50'],
      ['Tags', 'urgent, IT hardware'],
    ]);
    // 2026-07-04 08:15:00 in Europe/Berlin (CEST) is 06:15:00 UTC; empty closed date and time = open.
    expect(inst?.start_time).toBe(String(Date.UTC(2026, 6, 4, 6, 15)));
    expect(inst?.end_time).toBe('0');
    expect(inst?.task_list?.map((t) => [t.task_id, t.status, t.open_id, text(t.node_name)])).toEqual([
      [`proc-task-${DOC_A}-1`, 'PENDING', 'ou_eve', 'Buyer'],
      [`proc-task-${DOC_A}-2`, 'PENDING', 'ou_carl', 'Finance'],
    ]);
    expect(inst?.cc_list?.map((c) => [c.cc_id, c.read_status, c.open_id])).toEqual([
      [`proc-cc-${DOC_A}-3`, 'UNREAD', 'ou_carl'],
    ]);
  });

  it('carries decisions, reads, jsonb form edits and the enum status through', async () => {
    await fx.sql
      .query(`update proc.document_lines set decision = 'OK', decided_date = '20260705', decided_time = '093000',
        modified_at = '2026-07-05 07:30:00+00' where doc_id = '${DOC_A}' and line_no = 1;
      update proc.document_lines set seen = true, modified_at = '2026-07-05 07:31:00+00'
        where doc_id = '${DOC_A}' and line_no = 3;
      update proc.documents set form = jsonb_set(form, '{total}', '99.5'), subject = 'Laptops',
        modified_at = '2026-07-05 07:32:00+00' where doc_id = '${DOC_A}'`);
    await waitForConvergence(fx);
    let inst = stored(DOC_A);
    let text = textsOf(inst);
    expect(inst?.task_list?.[0]?.status).toBe('APPROVED');
    expect(inst?.task_list?.[0]?.end_time).toBe(String(Date.UTC(2026, 6, 5, 7, 30)));
    expect(inst?.cc_list?.[0]?.read_status).toBe('READ');
    expect(text(inst?.form?.[1]?.value)).toBe('99.50');
    expect(text(inst?.title)).toBe('Laptops');

    await fx.sql
      .query(`update proc.document_lines set decision = 'OK', decided_date = '20260706', decided_time = '100000',
        modified_at = '2026-07-06 08:00:00+00' where doc_id = '${DOC_A}' and line_no = 2;
      update proc.documents set status = 'approved', closed_date = '20260706', closed_time = '100000',
        modified_at = '2026-07-06 08:00:01+00' where doc_id = '${DOC_A}'`);
    await waitForConvergence(fx);
    inst = stored(DOC_A);
    text = textsOf(inst);
    expect(inst?.status).toBe('APPROVED');
    expect(inst?.end_time).toBe(String(Date.UTC(2026, 6, 6, 8, 0)));
    expect(inst?.task_list?.map((t) => t.status)).toEqual(['APPROVED', 'APPROVED']);
  });

  it('moves a line from the task list to the CC list when its kind changes, and back', async () => {
    await fx.sql
      .query(`insert into proc.documents (doc_id, category, subject, owner_id, status, form, created_date, created_time)
        values ('${DOC_B}', 'CONTRACT', 'Lease', '${EVE}', 'submitted', '{"number": "C-7"}', '20260110', '140000');
      insert into proc.document_lines (doc_id, line_no, kind, employee_id, node_code, created_date, created_time)
        values ('${DOC_B}', 1, 'APPROVER', '${BOB}', 'CFO', '20260110', '140000'),
               ('${DOC_B}', 2, 'APPROVER', '${CARL}', 'LEGAL', '20260110', '140000')`);
    await waitForConvergence(fx);
    expect(stored(DOC_B)?.approval_code).toBe('proc-contract');
    expect(stored(DOC_B)?.department_id).toBe('od-finance');
    // A node code the value map does not list falls back to the code itself.
    expect(textsOf(stored(DOC_B))(stored(DOC_B)?.task_list?.[1]?.node_name)).toBe('LEGAL');
    // 14:00 in Berlin in winter (CET) is 13:00 UTC.
    expect(stored(DOC_B)?.start_time).toBe(String(Date.UTC(2026, 0, 10, 13, 0)));

    await fx.sql.query(
      `update proc.document_lines set kind = 'CC' where doc_id = '${DOC_B}' and line_no = 2`,
    );
    await waitForConvergence(fx);
    expect(stored(DOC_B)?.task_list?.map((t) => t.task_id)).toEqual([`proc-task-${DOC_B}-1`]);
    expect(stored(DOC_B)?.cc_list?.map((c) => c.cc_id)).toEqual([`proc-cc-${DOC_B}-2`]);

    await fx.sql.query(
      `update proc.document_lines set kind = 'APPROVER' where doc_id = '${DOC_B}' and line_no = 2`,
    );
    await waitForConvergence(fx);
    expect(stored(DOC_B)?.task_list?.map((t) => t.task_id)).toEqual([
      `proc-task-${DOC_B}-1`,
      `proc-task-${DOC_B}-2`,
    ]);
    expect(stored(DOC_B)?.cc_list ?? []).toEqual([]);
  });

  it('drops soft-removed and deleted lines, found by their composite key', async () => {
    await fx.sql
      .query(`insert into proc.document_lines (doc_id, line_no, kind, employee_id, created_date, created_time)
        values ('${DOC_B}', 3, 'CC', '${BOB}', '20260110', '140000'), ('${DOC_B}', 4, 'CC', '${EVE}', '20260110', '140000')`);
    await waitForConvergence(fx);
    expect(stored(DOC_B)?.cc_list?.map((c) => c.cc_id)).toEqual([`proc-cc-${DOC_B}-3`, `proc-cc-${DOC_B}-4`]);

    await fx.sql
      .query(`update proc.document_lines set removed_at = now() where doc_id = '${DOC_B}' and line_no = 3;
      delete from proc.document_lines where doc_id = '${DOC_B}' and line_no = 1`);
    await waitForConvergence(fx);
    expect(stored(DOC_B)?.cc_list?.map((c) => c.cc_id)).toEqual([`proc-cc-${DOC_B}-4`]);
    expect(stored(DOC_B)?.task_list?.map((t) => t.task_id)).toEqual([`proc-task-${DOC_B}-2`]);
  });

  it('maps the withdrawn enum value to CANCELED, and a soft-deleted document to DELETED', async () => {
    await fx.sql.query(`update proc.documents set status = 'withdrawn' where doc_id = '${DOC_B}'`);
    await waitFor(() => stored(DOC_B)?.status === 'CANCELED', 20_000, 'document B CANCELED');
    await waitForConvergence(fx);

    await fx.sql.query(`update proc.documents set is_deleted = true where doc_id = '${DOC_B}'`);
    await waitFor(() => stored(DOC_B)?.status === 'DELETED', 20_000, 'document B DELETED');
    await waitForConvergence(fx);
  });

  it('marks a hard-deleted document DELETED with empty lists', async () => {
    await fx.sql
      .query(`insert into proc.documents (doc_id, category, owner_id, status, created_date, created_time)
        values ('${DOC_C}', 'PAYMENT', '${CARL}', 'submitted', '20260301', '120000');
      insert into proc.document_lines (doc_id, line_no, kind, employee_id, created_date, created_time)
        values ('${DOC_C}', 1, 'APPROVER', '${EVE}', '20260301', '120000')`);
    await waitForConvergence(fx);
    expect(stored(DOC_C)?.approval_code).toBe('proc-payment');
    expect(stored(DOC_C)?.task_list).toHaveLength(1);

    await fx.sql.query(
      `delete from proc.document_lines where doc_id = '${DOC_C}'; delete from proc.documents where doc_id = '${DOC_C}'`,
    );
    await waitFor(() => stored(DOC_C)?.status === 'DELETED', 20_000, 'document C DELETED');
    expect(stored(DOC_C)?.task_list ?? []).toEqual([]);
    expect(stored(DOC_C)?.cc_list ?? []).toEqual([]);
    await waitForConvergence(fx);
  });

  it('reaches every document and line that reads a changed employee or department (lookups)', async () => {
    // Eve approves on A and owns B; her open_id is read by A's task list and B's initiator.
    await fx.sql.query(`update proc.employees set lark_open_id = 'ou_eve_2' where emp_id = '${EVE}'`);
    await waitFor(
      () => stored(DOC_A)?.task_list?.[0]?.open_id === 'ou_eve_2' && stored(DOC_B)?.open_id === 'ou_eve_2',
      20_000,
      "A and B to show Eve's new open_id",
    );
    await waitForConvergence(fx);

    // The chained lookup: a department change reaches documents through their owner's employee row.
    await fx.sql.query(
      `update proc.departments set lark_dept_id = 'od-purchasing-2' where dept_id = '${PURCHASING}'`,
    );
    await waitFor(
      () => stored(DOC_A)?.department_id === 'od-purchasing-2',
      20_000,
      'A to show the new department',
    );
    await waitForConvergence(fx);

    // Moving an employee to another department is a change of the middle row of the chain.
    await fx.sql.query(`update proc.employees set dept_id = '${PURCHASING}' where emp_id = '${EVE}'`);
    await waitForConvergence(fx);
    expect(stored(DOC_B)?.department_id).toBe('od-purchasing-2');
  });
});
