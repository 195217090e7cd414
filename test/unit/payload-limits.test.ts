import { describe, expect, it } from 'vitest';
import { externalInstanceSchema, payloadLimitViolations } from '../../src/feishu/payload-schema.js';
import { sampleCc, samplePayload, sampleTask } from '../support/sample-payload.js';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => sampleTask(`task:${i}`));
const ccs = (n: number) => Array.from({ length: n }, (_, i) => sampleCc(`cc:${i}`));

describe('payloadLimitViolations', () => {
  it('finds nothing wrong with a valid payload, which the schema accepts too', () => {
    const payload = samplePayload();
    expect(payloadLimitViolations(payload)).toEqual([]);
    expect(externalInstanceSchema.safeParse(payload).success).toBe(true);
  });

  it('allows 300 tasks and reports 301', () => {
    expect(payloadLimitViolations(samplePayload({ task_list: tasks(300) }))).toEqual([]);
    expect(payloadLimitViolations(samplePayload({ task_list: tasks(301) }))).toEqual([
      'task_list has 301 entries; Feishu accepts at most 300',
    ]);
  });

  it('takes the task limit as a parameter, for the Lark copy that says 200', () => {
    expect(payloadLimitViolations(samplePayload({ task_list: tasks(201) }), { maxTasks: 200 })).toEqual([
      'task_list has 201 entries; Feishu accepts at most 200',
    ]);
  });

  it('allows 200 CCs and reports 201', () => {
    expect(payloadLimitViolations(samplePayload({ cc_list: ccs(200) }))).toEqual([]);
    expect(payloadLimitViolations(samplePayload({ cc_list: ccs(201) }))).toEqual([
      'cc_list has 201 entries; Feishu accepts at most 200',
    ]);
  });

  it('counts the form as the resolved name and value texts of the default locale', () => {
    const base = samplePayload();
    const texts = (value: string) => [
      { key: '@i18n@title', value: 'Leave request' },
      { key: '@i18n@form_name', value: 'Days' },
      { key: '@i18n@form_value', value },
      { key: '@i18n@task_title', value: 'Approve leave' },
    ];
    const withValue = (value: string) =>
      samplePayload({ i18n_resources: [{ locale: 'zh-CN', is_default: true, texts: texts(value) }] });
    expect(base.form).toHaveLength(1);
    expect(payloadLimitViolations(withValue('x'.repeat(2048 - 4)))).toEqual([]);
    expect(payloadLimitViolations(withValue('x'.repeat(2048 - 3)))).toEqual([
      'form has 2049 characters in the default locale; Feishu accepts at most 2048',
    ]);
    // Code points, not UTF-16 units: one emoji is one character.
    expect(payloadLimitViolations(withValue('😀'.repeat(2044)))).toEqual([]);
  });

  it('reports an i18n key the default locale does not define, naming the field', () => {
    const payload = samplePayload({ task_list: [sampleTask('task:1', { node_name: '@i18n@node_missing' })] });
    expect(payloadLimitViolations(payload)).toEqual([
      'task_list[0].node_name uses @i18n@node_missing, which the default locale does not define',
    ]);
  });

  it('requires exactly one default locale', () => {
    const base = samplePayload();
    const [zh] = base.i18n_resources;
    if (!zh) throw new Error('sample has a locale');
    expect(payloadLimitViolations({ ...base, i18n_resources: [{ ...zh, is_default: false }] })).toContain(
      'i18n_resources has 0 default locales; Feishu requires exactly one',
    );
    expect(payloadLimitViolations({ ...base, i18n_resources: [zh, { ...zh, locale: 'en-US' }] })).toEqual([
      'i18n_resources has 2 default locales; Feishu requires exactly one',
    ]);
  });

  it('requires ids unique across the instance, its tasks and its CCs', () => {
    const clash = samplePayload({ task_list: [sampleTask('x')], cc_list: [sampleCc('x')] });
    expect(payloadLimitViolations(clash)).toEqual([
      'cc_list[0].cc_id x repeats task_list[0].task_id; ids must be unique across instance, tasks and CCs',
    ]);
    const withInstance = samplePayload({ task_list: [sampleTask('inst:1')] });
    expect(payloadLimitViolations(withInstance)[0]).toContain('repeats instance_id');
  });

  it('allows two action_configs per task and reports a third', () => {
    const actions = [{ action_type: 'APPROVE' }, { action_type: 'REJECT' }, { action_type: 'APPROVE' }];
    expect(
      payloadLimitViolations(
        samplePayload({ task_list: [sampleTask('t', { action_configs: actions.slice(0, 2) })] }),
      ),
    ).toEqual([]);
    expect(
      payloadLimitViolations(samplePayload({ task_list: [sampleTask('t', { action_configs: actions })] })),
    ).toEqual(['task_list[0].action_configs has 3 entries; Feishu accepts at most 2']);
  });

  it('reports generate_type set to the empty string', () => {
    const task = { ...sampleTask('t'), generate_type: '' } as unknown as ReturnType<typeof sampleTask>;
    expect(payloadLimitViolations(samplePayload({ task_list: [task] }))).toEqual([
      'task_list[0].generate_type is ""; omit it instead',
    ]);
  });
});
