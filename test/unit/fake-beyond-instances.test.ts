// The fake's definitions, directory, monthly quota and permission answers, held to
// feishu-beyond-instances.md (§1 definitions, §2 batch_get_id, §3 quota and error codes).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CdcError, type FeishuErrorCode } from '../../src/errors.js';
import { FeishuClient } from '../../src/feishu/feishu-client.js';
import { startFakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import type { FakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import { APPROVALS, BATCH_GET_ID, PUSH, fetchToken, rawCall } from '../support/fake-http.js';
import { samplePayload } from '../support/sample-payload.js';

let fake: FakeFeishu;
let token: string;

const DIRECTORY = [
  {
    user_id: 'u_ann',
    open_id: 'ou_ann',
    union_id: 'on_ann',
    email: 'ann@corp.example',
    mobile: '+8613800000001',
  },
  { user_id: 'u_bob', open_id: 'ou_bob', union_id: 'on_bob', email: 'bob@corp.example', resigned: true },
];

function definition(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    approval_name: '@i18n@leave_name',
    approval_code: 'leave',
    group_code: 'hr',
    group_name: '@i18n@hr_group',
    external: { support_pc: true, create_link_pc: 'https://oa.example.com/new' },
    viewers: [{ viewer_type: 'TENANT' }],
    i18n_resources: [
      {
        locale: 'zh-CN',
        is_default: true,
        texts: [
          { key: '@i18n@leave_name', value: '请假' },
          { key: '@i18n@hr_group', value: '人事' },
        ],
      },
    ],
    ...overrides,
  };
}

beforeAll(async () => {
  fake = await startFakeFeishu({ directory: DIRECTORY });
  token = await fetchToken(fake);
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.reset();
});

describe('fake Feishu: external_approvals with two codes', () => {
  it('creates under a platform UUID, upserts by the custom code, and reads back by the platform code only', async () => {
    const created = await rawCall(fake, 'POST', APPROVALS, token, definition());
    expect(created.body.code).toBe(0);
    const platform = created.body.data.approval_code as string;
    expect(platform).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);

    const again = await rawCall(fake, 'POST', APPROVALS, token, definition({ group_name: undefined }));
    expect(again.body.data.approval_code).toBe(platform);
    expect(fake.approvals()).toHaveLength(1);

    const got = await rawCall(fake, 'GET', `${APPROVALS}/${platform}`, token);
    expect(got.body.code).toBe(0);
    expect(got.body.data).toMatchObject({
      approval_code: 'leave',
      group_code: 'hr',
      group_name: '@i18n@hr_group',
      external: { support_pc: true, enable_quick_operate: false, allow_batch_operate: false },
    });
    const byCustom = await rawCall(fake, 'GET', `${APPROVALS}/leave`, token);
    expect([byCustom.status, byCustom.body.code]).toEqual([400, 1390002]);
  });

  it('silently creates a second definition when the platform code is POSTed back', async () => {
    const platform = (await rawCall(fake, 'POST', APPROVALS, token, definition())).body.data.approval_code;
    const dup = await rawCall(fake, 'POST', APPROVALS, token, definition({ approval_code: platform }));
    expect(dup.body.code).toBe(0);
    expect(dup.body.data.approval_code).not.toBe(platform);
    expect(fake.approvals().map((d) => d.customCode)).toEqual(['leave', platform]);
  });

  it('refuses a create without a group, or with a new group but no name (1390001), and texts as a map (9499)', async () => {
    const noGroup = await rawCall(
      fake,
      'POST',
      APPROVALS,
      token,
      definition({ group_code: undefined, group_name: undefined }),
    );
    expect([noGroup.status, noGroup.body.code]).toEqual([400, 1390001]);
    const newNoName = await rawCall(fake, 'POST', APPROVALS, token, definition({ group_name: undefined }));
    expect(newNoName.body.code).toBe(1390001);
    const map = await rawCall(
      fake,
      'POST',
      APPROVALS,
      token,
      definition({
        i18n_resources: [{ locale: 'zh-CN', is_default: true, texts: { '@i18n@leave_name': '请假' } }],
      }),
    );
    expect(map.body.code).toBe(9499);
    expect(fake.approvals()).toEqual([]);
  });

  it('accepts instances under the platform code and refuses them under the custom code', async () => {
    const platform = (await rawCall(fake, 'POST', APPROVALS, token, definition())).body.data.approval_code;
    const byCustom = await rawCall(fake, 'POST', PUSH, token, samplePayload({ approval_code: 'leave' }));
    expect(byCustom.body.code).toBe(1390001);
    const byPlatform = await rawCall(fake, 'POST', PUSH, token, samplePayload({ approval_code: platform }));
    expect(byPlatform.body.code).toBe(0);
  });

  it('answers the list and the delete of definitions with the misleading 99991663 even with a valid token', async () => {
    const platform = (await rawCall(fake, 'POST', APPROVALS, token, definition())).body.data.approval_code;
    expect((await rawCall(fake, 'GET', APPROVALS, token)).body.code).toBe(99991663);
    expect((await rawCall(fake, 'DELETE', `${APPROVALS}/${platform}`, token)).body.code).toBe(99991663);
    expect(fake.approvals()).toHaveLength(1);
  });
});

describe('fake Feishu: contact batch_get_id against the directory', () => {
  it('echoes every input, with an id only for visible users', async () => {
    const answer = await rawCall(fake, 'POST', `${BATCH_GET_ID}?user_id_type=user_id`, token, {
      emails: ['ann@corp.example', 'nobody@corp.example', 'bob@corp.example'],
      mobiles: ['13800000001'],
    });
    expect(answer.body.code).toBe(0);
    expect(answer.body.data.user_list).toEqual([
      { user_id: 'u_ann', email: 'ann@corp.example' },
      { email: 'nobody@corp.example' },
      { email: 'bob@corp.example' },
      { user_id: 'u_ann', mobile: '13800000001' },
    ]);
    const open = await rawCall(fake, 'POST', BATCH_GET_ID, token, {
      emails: ['bob@corp.example'],
      include_resigned: true,
    });
    expect(open.body.data.user_list).toEqual([{ user_id: 'ou_bob', email: 'bob@corp.example' }]);
  });

  it('refuses more than 50 emails with 99992402', async () => {
    const emails = Array.from({ length: 51 }, (_, i) => `u${i}@corp.example`);
    const answer = await rawCall(fake, 'POST', BATCH_GET_ID, token, { emails });
    expect([answer.status, answer.body.code]).toEqual([400, 99992402]);
  });

  it('leaves user_id out without the employee_id field scope', async () => {
    const narrow = await startFakeFeishu({ directory: DIRECTORY, scopes: ['contact:user.id:readonly'] });
    try {
      const t = await fetchToken(narrow);
      const answer = await rawCall(narrow, 'POST', `${BATCH_GET_ID}?user_id_type=user_id`, t, {
        emails: ['ann@corp.example'],
      });
      expect(answer.body.data.user_list).toEqual([{ email: 'ann@corp.example' }]);
    } finally {
      await narrow.close();
    }
  });
});

describe('fake Feishu: monthly quota and permission codes', () => {
  it('counts successful approval calls only, then answers 429/99991403 until the month renews', async () => {
    fake.faults.set({ monthlyQuota: 2 });
    const platform = (await rawCall(fake, 'POST', APPROVALS, token, definition())).body.data.approval_code;
    // A rejected call and a contact call are free.
    expect((await rawCall(fake, 'POST', PUSH, token, samplePayload({ approval_code: 'nope' }))).status).toBe(
      400,
    );
    expect(
      (await rawCall(fake, 'POST', BATCH_GET_ID, token, { emails: ['ann@corp.example'] })).body.code,
    ).toBe(0);
    expect(
      (await rawCall(fake, 'POST', PUSH, token, samplePayload({ approval_code: platform }))).body.code,
    ).toBe(0);
    expect(fake.quota.used).toBe(2);
    const over = await rawCall(fake, 'POST', PUSH, token, samplePayload({ approval_code: platform }));
    expect([over.status, over.body.code]).toEqual([429, 99991403]);
    expect(
      (await rawCall(fake, 'POST', BATCH_GET_ID, token, { emails: ['ann@corp.example'] })).body.code,
    ).toBe(0);
    fake.quota.renew();
    expect(
      (await rawCall(fake, 'POST', PUSH, token, samplePayload({ approval_code: platform }))).body.code,
    ).toBe(0);
  });

  it('injects 99991406 and ends it on renewal over the admin endpoint', async () => {
    fake.faults.set({ quotaExhausted: 99991406 });
    const refused = await rawCall(fake, 'POST', APPROVALS, token, definition());
    expect([refused.status, refused.body.code]).toEqual([429, 99991406]);
    await fetch(`${fake.url}/_fake/quota/renew`, { method: 'POST' });
    expect((await rawCall(fake, 'POST', APPROVALS, token, definition())).body.code).toBe(0);
  });

  it('answers a missing scope with 99991672 and a scope-request link the client passes on', async () => {
    const narrow = await startFakeFeishu({ scopes: ['approval:external_instance'] });
    const client = new FeishuClient({
      baseUrl: narrow.url,
      appId: narrow.appId,
      appSecret: narrow.appSecret,
    });
    try {
      const err = await client
        .batchGetId({ emails: ['ann@corp.example'] }, 'user_id')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CdcError);
      const details = (err as CdcError<FeishuErrorCode>).details;
      expect(details.feishuCode).toBe(99991672);
      expect(details.disposition).toBe('stop');
      expect(details.scopeLink).toBe(
        `${narrow.url}/app/${narrow.appId}/auth?q=contact%3Auser.id%3Areadonly&op_from=openapi&token_type=tenant`,
      );
      expect((err as CdcError).message).toContain(details.scopeLink as string);
    } finally {
      await client.close();
      await narrow.close();
    }
  });

  it('classifies a 99991663 that survives a fresh token as a permission problem, with one renewal only', async () => {
    fake.faults.set({ invalidTokenOn: [PUSH] });
    const client = new FeishuClient({ baseUrl: fake.url, appId: fake.appId, appSecret: fake.appSecret });
    try {
      const err = (await client
        .pushInstance(samplePayload())
        .catch((e: unknown) => e)) as CdcError<FeishuErrorCode>;
      expect(err.code).toBe('FEISHU_PERMISSION');
      expect(err.details.disposition).toBe('stop');
      expect(err.message).toContain('permission or endpoint problem');
      expect(client.tokenRenewals).toBe(2);
    } finally {
      await client.close();
    }
  });
});
