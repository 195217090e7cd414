// The default mapping (mappings/legacy-approval.yaml) over the example OA schema, end to end.
import { describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { FakeRows, resolveAndBuild } from '../support/fake-rows.js';

const set = loadMappings('mappings');
const ref = { mapping: 'oa-request', key: ['42'] };

function oa(): FakeRows {
  return new FakeRows()
    .add('oa.users', {
      user_no: '5',
      login: 'li',
      display_name: '李雷',
      feishu_uid: 'ou-li',
      dept_code: 'D1',
    })
    .add('oa.users', {
      user_no: '6',
      login: 'han',
      display_name: '韩梅梅',
      feishu_uid: 'ou-han',
      dept_code: 'D1',
    })
    .add('oa.users', { user_no: '7', login: 'wang', display_name: '王', feishu_uid: null, dept_code: null })
    .add('oa.requests', {
      req_id: '42',
      form_type: '2',
      title: '差旅报销',
      applicant_no: '5',
      status_code: '1',
      amount: '1234.50',
      reason: '出差',
      detail_doc: '长'.repeat(600),
      submitted_at: '2026-11-25 09:30:00',
      finished_at: null,
      updated_at: '2026-11-25 10:00:00.123456',
    })
    .add('oa.steps', {
      step_id: '101',
      req_id: '42',
      seq: '1',
      node_name: '部门经理',
      approver_no: '6',
      state_code: '1',
      opinion: 'ok',
      created_at: '2026-11-25 09:30:00',
      acted_at: '2026-11-25 09:45:00',
      updated_at: '2026-11-25 09:45:00',
    })
    .add('oa.steps', {
      step_id: '102',
      req_id: '42',
      seq: '2',
      node_name: '财务',
      approver_no: '5',
      state_code: '0',
      opinion: null,
      created_at: '2026-11-25 09:45:00',
      acted_at: null,
      updated_at: '2026-11-25 09:45:00',
    })
    .add('oa.cc', {
      cc_no: '9',
      req_id: '42',
      user_no: '6',
      read_flag: 'Y',
      created_at: '2026-11-25 09:31:00',
      updated_at: '2026-11-25 09:40:00',
    });
}

// 2026-11-25 09:30:00 Asia/Shanghai = 01:30:00Z
const T0930 = String(Date.UTC(2026, 10, 25, 1, 30));

describe('legacy-approval mapping', () => {
  it('declares the tables it reads with their columns and keys', () => {
    expect(set.mappingNames).toEqual(['oa-request']);
    expect(set.tables.get('oa.requests')).toEqual({
      table: 'oa.requests',
      columns: [
        'amount',
        'applicant_no',
        'detail_doc',
        'finished_at',
        'form_type',
        'reason',
        'req_id',
        'status_code',
        'submitted_at',
        'title',
        'updated_at',
      ],
      keyColumns: ['req_id'],
    });
    expect(set.tables.get('oa.steps')?.keyColumns).toEqual(['step_id']);
    expect(set.tables.get('oa.cc')?.columns).toEqual([
      'cc_no',
      'created_at',
      'read_flag',
      'req_id',
      'updated_at',
      'user_no',
    ]);
    expect(set.tables.get('oa.users')).toEqual({ table: 'oa.users', columns: ['feishu_uid', 'user_no'] });
    expect(set.tables.has('oa.audit_log')).toBe(false);
  });

  it('finds the instance of request, step and cc rows; a null parent belongs nowhere', () => {
    expect(set.instancesOfRow('oa.requests', { req_id: '42' })).toEqual([ref]);
    expect(set.instancesOfRow('oa.steps', { step_id: '1', req_id: '42' })).toEqual([ref]);
    expect(set.instancesOfRow('oa.cc', { cc_no: '1', req_id: '42' })).toEqual([ref]);
    expect(set.instancesOfRow('oa.cc', { cc_no: '1', req_id: null })).toEqual([]);
    expect(set.instancesOfRow('oa.users', { user_no: '5' })).toEqual([]);
    expect(set.instancesOfRow('oa.audit_log', { id: '1' })).toEqual([]);
  });

  it('finds the rows that read a user through the users lookup', () => {
    expect(set.dependentsOfRow('oa.users', { user_no: '5', feishu_uid: 'x' })).toEqual([
      { table: 'oa.requests', match: { applicant_no: '5' } },
      { table: 'oa.steps', match: { approver_no: '5' } },
      { table: 'oa.cc', match: { user_no: '5' } },
    ]);
    expect(set.dependentsOfRow('oa.requests', { req_id: '42' })).toEqual([]);
  });

  it('asks for the instance, task and cc rows first, then the lookups', () => {
    const { rounds } = resolveAndBuild(set, ref, oa());
    expect(rounds).toEqual([
      [
        { table: 'oa.requests', match: { req_id: '42' } },
        { table: 'oa.steps', match: { req_id: '42' } },
        { table: 'oa.cc', match: { req_id: '42' } },
      ],
      [
        { table: 'oa.users', match: { user_no: '5' } },
        { table: 'oa.users', match: { user_no: '6' } },
      ],
    ]);
  });

  it('builds the payload', () => {
    const { result } = resolveAndBuild(set, ref, oa());
    expect(set.externalId(ref)).toBe('oa-req-42');
    expect(result).toEqual({
      kind: 'payload',
      updateMode: 'REPLACE',
      payload: {
        approval_code: 'expense',
        status: 'PENDING',
        extra: '{"business_key":"OA-42"}',
        instance_id: 'oa-req-42',
        links: { pc_link: 'https://oa.example.com/requests/42' },
        title: '@i18n@title',
        form: [
          { name: '@i18n@form.0.name', value: '@i18n@form.0.value' },
          { name: '@i18n@form.1.name', value: '@i18n@form.1.value' },
          { name: '@i18n@form.2.name', value: '@i18n@form.2.value' },
        ],
        user_id: 'ou-li',
        department_id: '',
        start_time: T0930,
        end_time: '0',
        update_time: String(Date.UTC(2026, 10, 25, 2, 0, 0, 123)),
        update_mode: 'REPLACE',
        task_list: [
          {
            task_id: 'oa-step-101',
            user_id: 'ou-han',
            links: { pc_link: 'https://oa.example.com/requests/42' },
            status: 'APPROVED',
            create_time: T0930,
            end_time: String(Date.UTC(2026, 10, 25, 1, 45)),
            update_time: String(Date.UTC(2026, 10, 25, 1, 45)),
            node_name: '@i18n@task.0.node_name',
          },
          {
            task_id: 'oa-step-102',
            user_id: 'ou-li',
            links: { pc_link: 'https://oa.example.com/requests/42' },
            status: 'PENDING',
            create_time: String(Date.UTC(2026, 10, 25, 1, 45)),
            end_time: '0',
            update_time: String(Date.UTC(2026, 10, 25, 1, 45)),
            node_name: '@i18n@task.1.node_name',
          },
        ],
        cc_list: [
          {
            cc_id: 'oa-cc-9',
            user_id: 'ou-han',
            links: { pc_link: 'https://oa.example.com/requests/42' },
            read_status: 'READ',
            create_time: String(Date.UTC(2026, 10, 25, 1, 31)),
            update_time: String(Date.UTC(2026, 10, 25, 1, 40)),
          },
        ],
        i18n_resources: [
          {
            locale: 'zh-CN',
            is_default: true,
            texts: [
              { key: '@i18n@title', value: '差旅报销' },
              { key: '@i18n@form.0.name', value: '金额' },
              { key: '@i18n@form.0.value', value: '1234.50' },
              { key: '@i18n@form.1.name', value: '事由' },
              { key: '@i18n@form.1.value', value: '出差' },
              { key: '@i18n@form.2.name', value: '详情' },
              { key: '@i18n@form.2.value', value: '长'.repeat(500) },
              { key: '@i18n@task.0.node_name', value: '部门经理' },
              { key: '@i18n@task.1.node_name', value: '财务' },
            ],
          },
          {
            locale: 'en-US',
            is_default: false,
            texts: [
              { key: '@i18n@form.0.name', value: 'Amount' },
              { key: '@i18n@form.1.name', value: 'Reason' },
              { key: '@i18n@form.2.name', value: 'Details' },
            ],
          },
        ],
      },
    });
  });

  it('maps every status code, finished requests get their end_time', () => {
    const codes: Record<string, string> = {
      '0': 'HIDDEN',
      '1': 'PENDING',
      '2': 'APPROVED',
      '3': 'REJECTED',
      '4': 'CANCELED',
      '9': 'DELETED',
    };
    for (const [code, status] of Object.entries(codes)) {
      const db = oa();
      const row = db.tables.get('oa.requests')?.[0];
      if (!row) throw new Error('no row');
      db.tables.set('oa.requests', [
        { values: { ...row.values, status_code: code, finished_at: '2026-11-26 18:00:00' }, deleted: false },
      ]);
      const { result } = resolveAndBuild(set, ref, db);
      expect(result.kind === 'payload' && [result.payload.status, result.payload.end_time]).toEqual([
        status,
        String(Date.UTC(2026, 10, 26, 10)),
      ]);
    }
  });

  it('parks a request whose applicant has no Feishu id, naming mapping, row and field', () => {
    const db = oa();
    const row = db.tables.get('oa.requests')?.[0];
    if (!row) throw new Error('no row');
    db.tables.set('oa.requests', [
      { values: { ...row.values, applicant_no: '7', status_code: '5' }, deleted: false },
    ]);
    const { result } = resolveAndBuild(set, ref, db);
    expect(result).toEqual({
      kind: 'unmappable',
      reason:
        'mapping oa-request instance req_id=42: oa.requests (req_id=42) field status: is required but evaluated to null ("5" is not in the value map); ' +
        'oa.requests (req_id=42) field user_id: is required but evaluated to null (lookup users found user_no=7 with a null value)',
    });
  });

  it('pushes a deleted request as DELETED with empty task and cc lists', () => {
    const db = oa();
    const row = db.tables.get('oa.requests')?.[0];
    if (!row) throw new Error('no row');
    db.tables.set('oa.requests', [{ values: row.values, deleted: true }]);
    const { result } = resolveAndBuild(set, ref, db);
    expect(result.kind).toBe('payload');
    if (result.kind !== 'payload') return;
    expect(result.payload.status).toBe('DELETED');
    expect(result.payload.task_list).toEqual([]);
    expect(result.payload.cc_list).toEqual([]);
    expect(result.payload.instance_id).toBe('oa-req-42');
  });

  it('leaves deleted steps out and reports absent requests', () => {
    const db = oa();
    const steps = db.tables.get('oa.steps') ?? [];
    db.tables.set(
      'oa.steps',
      steps.map((s, i) => ({ ...s, deleted: i === 0 })),
    );
    const { result } = resolveAndBuild(set, ref, db);
    expect(result.kind === 'payload' && result.payload.task_list?.map((t) => t.task_id)).toEqual([
      'oa-step-102',
    ]);
    expect(resolveAndBuild(set, { mapping: 'oa-request', key: ['43'] }, db).result).toEqual({
      kind: 'absent',
    });
  });
});
