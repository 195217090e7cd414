// Builders of valid payloads for the feishu tests: each test starts from a payload Feishu accepts and
// breaks exactly the rule it is about.
import type { ExternalCc, ExternalInstance, ExternalTask } from '../../src/feishu/external-instance.js';

export const APPROVAL_CODE = 'APPROVAL-TEST-1';

export function sampleTask(id: string, overrides: Partial<ExternalTask> = {}): ExternalTask {
  return {
    task_id: id,
    user_id: `user-${id}`,
    title: '@i18n@task_title',
    links: { pc_link: `https://legacy.example/tasks/${id}` },
    status: 'PENDING',
    create_time: '1700000000000',
    end_time: '0',
    update_time: '1700000000000',
    ...overrides,
  };
}

export function sampleCc(id: string, overrides: Partial<ExternalCc> = {}): ExternalCc {
  return {
    cc_id: id,
    user_id: `user-${id}`,
    links: { pc_link: `https://legacy.example/ccs/${id}` },
    read_status: 'UNREAD',
    create_time: '1700000000000',
    update_time: '1700000000000',
    ...overrides,
  };
}

export function samplePayload(overrides: Partial<ExternalInstance> = {}): ExternalInstance {
  return {
    approval_code: APPROVAL_CODE,
    status: 'PENDING',
    instance_id: 'inst:1',
    links: { pc_link: 'https://legacy.example/requests/1' },
    title: '@i18n@title',
    form: [{ name: '@i18n@form_name', value: '@i18n@form_value' }],
    user_id: 'user-1',
    start_time: '1700000000000',
    end_time: '0',
    update_time: '1700000000000',
    update_mode: 'REPLACE',
    task_list: [sampleTask('task:1')],
    cc_list: [sampleCc('cc:1')],
    i18n_resources: [
      {
        locale: 'zh-CN',
        is_default: true,
        texts: [
          { key: '@i18n@title', value: 'Leave request' },
          { key: '@i18n@form_name', value: 'Days' },
          { key: '@i18n@form_value', value: '3' },
          { key: '@i18n@task_title', value: 'Approve leave' },
        ],
      },
    ],
    ...overrides,
  };
}
