import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ExternalInstance } from '../../src/feishu/external-instance.js';
import { startFakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import type { FakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import { APPROVALS, CHECK, PUSH, TOKEN, fetchToken, rawGet, rawPost } from '../support/fake-http.js';
import { APPROVAL_CODE, sampleCc, samplePayload, sampleTask } from '../support/sample-payload.js';

const T0 = 1_700_000_000_000;
let clock = T0;
const now = (): number => clock;

let fake: FakeFeishu;
let token: string;

beforeAll(async () => {
  fake = await startFakeFeishu({ approvalCodes: [APPROVAL_CODE], now });
  token = await fetchToken(fake);
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.reset();
});

type Mutation = (p: any) => void;
const push = (payload: unknown) => rawPost(fake, PUSH, payload, token);

/** A valid payload broken by `mutate`; mutations work on a plain JSON copy so they can break types. */
function broken(mutate: Mutation): unknown {
  const p = JSON.parse(JSON.stringify(samplePayload())) as Record<string, any>;
  mutate(p);
  return p;
}

async function expectRejected(payload: unknown, field: string): Promise<void> {
  const answer = await push(payload);
  expect(answer.status).toBe(400);
  expect(answer.body.code).toBe(1390001);
  expect(answer.body.msg).toContain(field);
  expect(fake.instances()).toEqual([]);
}

describe('fake Feishu: external_instances validation', () => {
  it('accepts a valid payload and echoes it under data.data', async () => {
    const answer = await push(samplePayload());
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ code: 0, data: { data: { instance_id: 'inst:1' } } });
    expect(fake.instance('inst:1')?.task_list).toHaveLength(1);
  });

  it('accepts end_time as "0", as the number 0 and as a digit string', async () => {
    for (const end_time of ['0', 0, '1700000009999']) {
      expect((await push(broken((p) => (p.end_time = end_time)))).status).toBe(200);
    }
    expect((await push(broken((p) => (p.task_list[0].end_time = 0)))).status).toBe(200);
  });

  const requiredFields: [string, Mutation][] = [
    ['approval_code', (p) => delete p.approval_code],
    ['status', (p) => delete p.status],
    ['instance_id', (p) => delete p.instance_id],
    ['links', (p) => delete p.links],
    ['links.pc_link', (p) => delete p.links.pc_link],
    ['start_time', (p) => delete p.start_time],
    ['end_time', (p) => delete p.end_time],
    ['update_time', (p) => delete p.update_time],
    ['i18n_resources', (p) => delete p.i18n_resources],
    ['task_list[0].task_id', (p) => delete p.task_list[0].task_id],
    ['task_list[0].links', (p) => delete p.task_list[0].links],
    ['task_list[0].status', (p) => delete p.task_list[0].status],
    ['task_list[0].create_time', (p) => delete p.task_list[0].create_time],
    ['task_list[0].end_time', (p) => delete p.task_list[0].end_time],
    ['task_list[0].user_id', (p) => delete p.task_list[0].user_id],
    ['cc_list[0].cc_id', (p) => delete p.cc_list[0].cc_id],
    ['cc_list[0].links.pc_link', (p) => delete p.cc_list[0].links.pc_link],
    ['cc_list[0].read_status', (p) => delete p.cc_list[0].read_status],
    ['cc_list[0].create_time', (p) => delete p.cc_list[0].create_time],
    ['cc_list[0].update_time', (p) => delete p.cc_list[0].update_time],
    ['cc_list[0].user_id', (p) => delete p.cc_list[0].user_id],
    ['i18n_resources[0].locale', (p) => delete p.i18n_resources[0].locale],
    ['i18n_resources[0].is_default', (p) => delete p.i18n_resources[0].is_default],
    ['i18n_resources[0].texts', (p) => delete p.i18n_resources[0].texts],
  ];
  it.each(requiredFields)('rejects a payload without the required %s', async (field, mutate) => {
    await expectRejected(broken(mutate), field);
  });

  const timestamps: [string, Mutation][] = [
    ['start_time', (p) => (p.start_time = 1700000000000)],
    ['update_time', (p) => (p.update_time = '2023-11-14T22:13:20Z')],
    ['end_time', (p) => (p.end_time = '-1')],
    ['task_list[0].create_time', (p) => (p.task_list[0].create_time = 'yesterday')],
    ['task_list[0].update_time', (p) => (p.task_list[0].update_time = '1.5')],
    ['cc_list[0].update_time', (p) => (p.cc_list[0].update_time = '')],
  ];
  it.each(timestamps)('rejects %s that is not a string of digits', async (field, mutate) => {
    await expectRejected(broken(mutate), field);
  });

  const enums: [string, Mutation][] = [
    ['status', (p) => (p.status = 'DONE')],
    ['update_mode', (p) => (p.update_mode = 'MERGE')],
    ['display_method', (p) => (p.display_method = 'POPUP')],
    ['task_list[0].status', (p) => (p.task_list[0].status = 'CANCELED')],
    ['task_list[0].generate_type', (p) => (p.task_list[0].generate_type = '')],
    ['cc_list[0].read_status', (p) => (p.cc_list[0].read_status = 'SEEN')],
    ['i18n_resources[0].locale', (p) => (p.i18n_resources[0].locale = 'zh_cn')],
  ];
  it.each(enums)('rejects %s outside its enum', async (field, mutate) => {
    await expectRejected(broken(mutate), field);
  });

  const i18nKeys: [string, Mutation][] = [
    ['title', (p) => (p.title = 'Leave request')],
    ['form[0].value', (p) => (p.form[0].value = '3 days')],
    ['user_name', (p) => (p.user_name = 'Finance')],
    ['department_name', (p) => (p.department_name = 'Finance')],
    ['task_list[0].title', (p) => (p.task_list[0].title = 'Approve')],
    ['task_list[0].node_name', (p) => (p.task_list[0].node_name = 'Manager')],
    [
      'action_name',
      (p) => (p.task_list[0].action_configs = [{ action_type: 'ESCALATE', action_name: 'Escalate' }]),
    ],
    ['i18n_resources[0].texts[0].key', (p) => (p.i18n_resources[0].texts[0].key = 'title')],
  ];
  it.each(i18nKeys)('rejects %s that is not an @i18n@ key', async (field, mutate) => {
    await expectRejected(broken(mutate), field);
  });

  it('rejects a custom action_type without an action_name', async () => {
    await expectRejected(
      broken((p) => (p.task_list[0].action_configs = [{ action_type: 'ESCALATE' }])),
      'action_name',
    );
  });

  it('rejects an @i18n@ key the default locale does not define, naming the field', async () => {
    await expectRejected(
      broken((p) => (p.task_list[0].title = '@i18n@nowhere')),
      'task_list[0].title',
    );
  });

  it('rejects a payload without a default locale and one with two', async () => {
    await expectRejected(
      broken((p) => (p.i18n_resources[0].is_default = false)),
      'i18n_resources',
    );
    await expectRejected(
      broken((p) => p.i18n_resources.push({ ...p.i18n_resources[0], locale: 'en-US' })),
      'i18n_resources has 2 default locales',
    );
  });

  it('rejects more than 300 tasks and more than 200 CCs', async () => {
    await expectRejected(
      samplePayload({ task_list: Array.from({ length: 301 }, (_, i) => sampleTask(`t${i}`)) }),
      'task_list',
    );
    await expectRejected(
      samplePayload({ cc_list: Array.from({ length: 201 }, (_, i) => sampleCc(`c${i}`)) }),
      'cc_list',
    );
  });

  it('rejects a form longer than 2048 characters', async () => {
    await expectRejected(
      broken((p) => (p.i18n_resources[0].texts[2].value = 'x'.repeat(2100))),
      'form',
    );
  });

  it('rejects ids repeated across the instance, its tasks and its CCs', async () => {
    await expectRejected(
      broken((p) => (p.cc_list[0].cc_id = 'task:1')),
      'cc_list[0].cc_id',
    );
    await expectRejected(
      broken((p) => (p.task_list[0].task_id = 'inst:1')),
      'task_list[0].task_id',
    );
  });

  it('rejects a third action_config on a task', async () => {
    const three = [{ action_type: 'APPROVE' }, { action_type: 'REJECT' }, { action_type: 'APPROVE' }];
    await expectRejected(
      broken((p) => (p.task_list[0].action_configs = three)),
      'action_configs',
    );
  });

  it('rejects an approval_code that was neither seeded nor created', async () => {
    await expectRejected(
      broken((p) => (p.approval_code = 'UNKNOWN')),
      'approval_code',
    );
  });

  it('rejects a body that is not JSON', async () => {
    await expectRejected('{"approval_code":', 'JSON');
  });
});

describe('fake Feishu: external_approvals', () => {
  const definition = {
    approval_name: '@i18n@approval_name',
    approval_code: 'CREATED-1',
    group_code: 'grp',
    group_name: '@i18n@approval_name',
    external: { support_pc: true, create_link_pc: 'https://legacy.example/new' },
    viewers: [{ viewer_type: 'TENANT' }],
    i18n_resources: [
      { locale: 'zh-CN', is_default: true, texts: [{ key: '@i18n@approval_name', value: 'Leave' }] },
    ],
  };

  it('creates a definition whose code instances may then reference', async () => {
    const created = await rawPost(fake, `${APPROVALS}?user_id_type=user_id`, definition, token);
    expect(created.body).toMatchObject({ code: 0, msg: 'success' });
    const platform = created.body.data.approval_code as string;
    expect(platform).not.toBe('CREATED-1');
    expect((await push(samplePayload({ approval_code: platform }))).status).toBe(200);
  });

  it('rejects a definition whose name is too short or shown nowhere', async () => {
    const short = await rawPost(fake, APPROVALS, { ...definition, approval_name: '@i18n@a' }, token);
    expect(short.body).toMatchObject({ code: 1390001 });
    expect(short.body.msg).toContain('approval_name');
    const hidden = await rawPost(fake, APPROVALS, { ...definition, external: { support_pc: false } }, token);
    expect(hidden.body.msg).toContain('external.support_pc');
  });

  it('refuses to move an instance to another definition', async () => {
    await rawPost(fake, APPROVALS, definition, token);
    expect((await push(samplePayload())).status).toBe(200);
    await expectRejectedKeeping(samplePayload({ approval_code: 'CREATED-1' }), 'approval_code');
  });
});

async function expectRejectedKeeping(payload: ExternalInstance, field: string): Promise<void> {
  const answer = await push(payload);
  expect(answer.body.code).toBe(1390001);
  expect(answer.body.msg).toContain(field);
}

describe('fake Feishu: REPLACE and UPDATE', () => {
  const time = (ms: number): string => String(T0 + ms);

  it('REPLACE makes the stored instance exactly the payload, removing missing tasks and CCs, whatever its update_time', async () => {
    await push(
      samplePayload({ task_list: [sampleTask('task:1'), sampleTask('task:2')], update_time: time(10) }),
    );
    expect(fake.instance('inst:1')?.task_list).toHaveLength(2);
    await push(
      samplePayload({
        status: 'APPROVED',
        task_list: [sampleTask('task:2')],
        cc_list: [],
        update_time: time(5),
      }),
    );
    const stored = fake.instance('inst:1');
    expect(stored?.status).toBe('APPROVED');
    expect(stored?.update_time).toBe(time(5));
    expect(stored?.task_list?.map((t) => t.task_id)).toEqual(['task:2']);
    expect(stored?.cc_list).toEqual([]);
  });

  it('UPDATE never deletes and adds new tasks', async () => {
    await push(samplePayload({ task_list: [sampleTask('task:1')] }));
    await push(
      samplePayload({
        update_mode: 'UPDATE',
        update_time: time(1),
        task_list: [sampleTask('task:2')],
        cc_list: [],
      }),
    );
    const stored = fake.instance('inst:1');
    expect(stored?.task_list?.map((t) => t.task_id)).toEqual(['task:1', 'task:2']);
    expect(stored?.cc_list?.map((c) => c.cc_id)).toEqual(['cc:1']);
  });

  it('UPDATE changes the instance only when its update_time is strictly greater', async () => {
    await push(samplePayload({ update_time: time(10) }));
    await push(samplePayload({ update_mode: 'UPDATE', status: 'APPROVED', update_time: time(10) }));
    expect(fake.instance('inst:1')?.status).toBe('PENDING');
    await push(samplePayload({ update_mode: 'UPDATE', status: 'APPROVED', update_time: time(9) }));
    expect(fake.instance('inst:1')?.status).toBe('PENDING');
    await push(samplePayload({ update_mode: 'UPDATE', status: 'APPROVED', update_time: time(11) }));
    expect(fake.instance('inst:1')).toMatchObject({ status: 'APPROVED', update_time: time(11) });
  });

  it('UPDATE compares each task and CC update_time on its own', async () => {
    await push(
      samplePayload({
        task_list: [
          sampleTask('task:1', { update_time: time(10) }),
          sampleTask('task:2', { update_time: time(10) }),
        ],
      }),
    );
    await push(
      samplePayload({
        update_mode: 'UPDATE',
        update_time: time(1),
        task_list: [
          sampleTask('task:1', { status: 'APPROVED', update_time: time(11) }),
          sampleTask('task:2', { status: 'APPROVED', update_time: time(10) }),
        ],
        cc_list: [sampleCc('cc:1', { read_status: 'READ', update_time: time(1) })],
      }),
    );
    const stored = fake.instance('inst:1');
    expect(stored?.task_list?.map((t) => t.status)).toEqual(['APPROVED', 'PENDING']);
    expect(stored?.cc_list?.[0]?.read_status).toBe('READ');
  });

  it('ignores a whole UPDATE, tasks included, whose instance update_time is not above the stored one', async () => {
    await push(
      samplePayload({ update_time: time(10), task_list: [sampleTask('task:1', { update_time: time(10) })] }),
    );
    const answer = await push(
      samplePayload({
        update_mode: 'UPDATE',
        update_time: time(9),
        task_list: [sampleTask('task:1', { status: 'APPROVED', update_time: time(11) })],
      }),
    );
    expect(answer.body.code).toBe(0);
    expect(fake.instance('inst:1')?.task_list?.[0]?.status).toBe('PENDING');
    expect(fake.instance('inst:1')?.update_time).toBe(time(10));
  });

  it('UPDATE keeps the fields Feishu calls immutable', async () => {
    await push(
      samplePayload({ department_id: 'od-1', task_list: [sampleTask('task:1', { node_id: 'n1' })] }),
    );
    await push(
      samplePayload({
        update_mode: 'UPDATE',
        update_time: time(1),
        department_id: 'od-2',
        task_list: [
          sampleTask('task:1', {
            user_id: 'someone-else',
            node_id: 'n2',
            create_time: time(1),
            status: 'APPROVED',
            update_time: time(1),
          }),
        ],
      }),
    );
    const stored = fake.instance('inst:1');
    expect(stored?.department_id).toBe('od-1');
    expect(stored?.task_list?.[0]).toMatchObject({
      user_id: 'user-task:1',
      node_id: 'n1',
      create_time: '1700000000000',
      status: 'APPROVED',
    });
  });
});

describe('fake Feishu: external_instances/check', () => {
  it('reports unknown instances, unknown tasks, task and instance version differences, and nothing when consistent', async () => {
    await push(
      samplePayload({ update_time: '200', task_list: [sampleTask('task:1', { update_time: '100' })] }),
    );
    const answer = await rawPost(
      fake,
      CHECK,
      {
        instances: [
          { instance_id: 'missing', update_time: '1', tasks: [] },
          { instance_id: 'inst:1', update_time: '200', tasks: [{ task_id: 'task:1', update_time: '100' }] },
          { instance_id: 'inst:1', update_time: '200', tasks: [{ task_id: 'task:9', update_time: '5' }] },
          { instance_id: 'inst:1', update_time: '200', tasks: [{ task_id: 'task:1', update_time: '99' }] },
          { instance_id: 'inst:1', update_time: '201', tasks: [{ task_id: 'task:1', update_time: '100' }] },
        ],
      },
      token,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.data.diff_instances).toEqual([
      { instance_id: 'missing', update_time: '0', tasks: [] },
      { instance_id: 'inst:1', update_time: '200', tasks: [{ task_id: 'task:9', update_time: '0' }] },
      { instance_id: 'inst:1', update_time: '200', tasks: [{ task_id: 'task:1', update_time: '100' }] },
      { instance_id: 'inst:1', update_time: '200', tasks: [] },
    ]);
  });

  it('rejects a check body missing a required field', async () => {
    const answer = await rawPost(fake, CHECK, { instances: [{ instance_id: 'x', update_time: '1' }] }, token);
    expect(answer.body.code).toBe(1390001);
    expect(answer.body.msg).toContain('instances[0].tasks');
  });
});

describe('fake Feishu: tokens', () => {
  it('rejects unknown app ids and wrong secrets with the documented codes, on HTTP 200', async () => {
    const badId = await rawPost(fake, TOKEN, { app_id: 'cli_other', app_secret: fake.appSecret });
    expect(badId).toMatchObject({ status: 200, body: { code: 10003 } });
    const badSecret = await rawPost(fake, TOKEN, { app_id: fake.appId, app_secret: 'nope' });
    expect(badSecret).toMatchObject({ status: 200, body: { code: 10015 } });
  });

  it('returns the same token until less than 30 minutes are left, then a new one while the old stays valid until expiry', async () => {
    clock = T0;
    fake.faults.expireTokens();
    const first = await rawPost(fake, TOKEN, { app_id: fake.appId, app_secret: fake.appSecret });
    expect(first.body).toMatchObject({ code: 0, expire: 7200 });
    clock = T0 + 60 * 60_000;
    const same = await rawPost(fake, TOKEN, { app_id: fake.appId, app_secret: fake.appSecret });
    expect(same.body).toMatchObject({ tenant_access_token: first.body.tenant_access_token, expire: 3600 });
    clock = T0 + 91 * 60_000;
    const renewed = await rawPost(fake, TOKEN, { app_id: fake.appId, app_secret: fake.appSecret });
    expect(renewed.body.tenant_access_token).not.toBe(first.body.tenant_access_token);
    expect(renewed.body.expire).toBe(7200);
    expect((await rawPost(fake, PUSH, samplePayload(), first.body.tenant_access_token)).status).toBe(200);
    clock = T0 + 120 * 60_000;
    const expired = await rawPost(fake, PUSH, samplePayload(), first.body.tenant_access_token);
    expect(expired).toMatchObject({ status: 400, body: { code: 99991663 } });
    expect((await rawPost(fake, PUSH, samplePayload(), renewed.body.tenant_access_token)).status).toBe(200);
    clock = T0;
    token = renewed.body.tenant_access_token;
  });

  it('answers a missing Authorization header with 99991661 and an unknown token with 99991663', async () => {
    expect((await rawPost(fake, PUSH, samplePayload())).body.code).toBe(99991661);
    expect((await rawPost(fake, PUSH, samplePayload(), 't-forged')).body.code).toBe(99991663);
    expect(fake.counters).toMatchObject({ missingToken: 1, invalidToken: 1 });
  });
});

describe('fake Feishu: scopes', () => {
  it('answers 99991672 when the app lacks the endpoint scope', async () => {
    const narrow = await startFakeFeishu({ scopes: ['approval:external_approval'], approvalCodes: '*' });
    try {
      const answer = await rawPost(narrow, PUSH, samplePayload(), await fetchToken(narrow));
      expect(answer.body.code).toBe(99991672);
      expect(answer.body.msg).toContain('approval:external_instance');
    } finally {
      await narrow.close();
    }
  });
});

describe('fake Feishu: rate windows', () => {
  let limited: FakeFeishu;
  let limitedToken: string;
  beforeAll(async () => {
    limited = await startFakeFeishu({ perSecond: 3, perMinute: 5, approvalCodes: '*', now });
    limitedToken = await fetchToken(limited);
  });
  afterAll(async () => {
    await limited.close();
  });
  afterEach(() => {
    limited.reset();
  });

  it('answers 429 with 99991400 and the reset headers once the per-second window is full, and admits again after it', async () => {
    clock = T0;
    for (let i = 0; i < 3; i++)
      expect((await rawPost(limited, PUSH, samplePayload(), limitedToken)).status).toBe(200);
    const refused = await rawPost(limited, PUSH, samplePayload(), limitedToken);
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe(99991400);
    expect(refused.headers.get('x-ogw-ratelimit-limit')).toBe('3');
    expect(refused.headers.get('x-ogw-ratelimit-reset')).toBe('1');
    clock = T0 + 1000;
    expect((await rawPost(limited, PUSH, samplePayload(), limitedToken)).status).toBe(200);
    expect(limited.counters.tooManyRequests).toBe(1);
  });

  it('answers 429 once the per-minute window is full, with the seconds until it frees', async () => {
    clock = T0 + 10 * 60_000;
    for (let i = 0; i < 5; i++) {
      clock += 1000;
      expect((await rawPost(limited, PUSH, samplePayload(), limitedToken)).status).toBe(200);
    }
    clock += 1000;
    const refused = await rawPost(limited, PUSH, samplePayload(), limitedToken);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ogw-ratelimit-limit')).toBe('5');
    expect(refused.headers.get('x-ogw-ratelimit-reset')).toBe('55');
    clock += 55_000;
    expect((await rawPost(limited, PUSH, samplePayload(), limitedToken)).status).toBe(200);
  });

  it('keeps one budget per endpoint', async () => {
    clock = T0 + 20 * 60_000;
    for (let i = 0; i < 3; i++) await rawPost(limited, PUSH, samplePayload(), limitedToken);
    expect((await rawPost(limited, PUSH, samplePayload(), limitedToken)).status).toBe(429);
    const check = await rawPost(limited, CHECK, { instances: [] }, limitedToken);
    expect(check.status).toBe(200);
  });
});

describe('fake Feishu: faults', () => {
  it('fails the next n calls with the given status and code', async () => {
    fake.faults.set({ failNext: { count: 2, status: 400, code: 1395001 } });
    expect((await push(samplePayload())).body.code).toBe(1395001);
    expect((await push(samplePayload())).body.code).toBe(1395001);
    expect((await push(samplePayload())).status).toBe(200);
  });

  it('answers a share of calls with a gateway error or a Feishu code', async () => {
    fake.faults.set({ errorRate: 1, error: { status: 502 } });
    expect((await push(samplePayload())).status).toBe(502);
    fake.faults.set({ errorRate: 1, error: { code: 1395001 } });
    expect((await push(samplePayload())).body).toMatchObject({ code: 1395001 });
    expect(fake.counters.injectedErrors).toBe(2);
  });

  it('draws the same faults from the same seed', async () => {
    const outcomes = async (): Promise<number[]> => {
      fake.reset();
      fake.faults.set({ errorRate: 0.5, seed: 42 });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await push(samplePayload())).status);
      return statuses;
    };
    const first = await outcomes();
    expect(first).toContain(503);
    expect(first).toContain(200);
    expect(await outcomes()).toEqual(first);
  });

  it('resets the connection without an answer', async () => {
    fake.faults.set({ resetRate: 1 });
    await expect(push(samplePayload())).rejects.toThrow();
    expect(fake.pushes().at(-1)).toMatchObject({ accepted: false, httpStatus: 0 });
    expect(fake.counters.injectedResets).toBe(1);
  });

  it('delays answers by the configured latency', async () => {
    fake.faults.set({ latencyMs: [5_000, 6_000] });
    await expect(rawPost(fake, PUSH, samplePayload(), token, AbortSignal.timeout(50))).rejects.toThrow();
  });

  it('answers every call, the token endpoint included, with 503 while down', async () => {
    fake.faults.set({ down: true });
    expect((await push(samplePayload())).status).toBe(503);
    expect((await rawPost(fake, TOKEN, { app_id: fake.appId, app_secret: fake.appSecret })).status).toBe(503);
    fake.faults.set({ down: false });
    expect((await push(samplePayload())).status).toBe(200);
  });

  it('invalidates every token on expireTokens()', async () => {
    fake.faults.expireTokens();
    expect((await push(samplePayload())).body.code).toBe(99991663);
    token = await fetchToken(fake);
    expect((await push(samplePayload())).status).toBe(200);
  });

  it('answers 1395001 to a push of the same instance sooner than the minimum interval', async () => {
    clock = T0;
    fake.faults.set({ minSameInstanceIntervalMs: 500 });
    expect((await push(samplePayload())).status).toBe(200);
    clock = T0 + 499;
    expect((await push(samplePayload())).body).toMatchObject({ code: 1395001 });
    expect((await push(samplePayload({ instance_id: 'inst:2' }))).status).toBe(200);
    clock = T0 + 500;
    expect((await push(samplePayload())).status).toBe(200);
    expect(fake.counters.tooSoon).toBe(1);
  });
});

describe('fake Feishu: admin endpoints', () => {
  it('shows instances, pushes and counters, takes faults and resets over HTTP', async () => {
    await push(samplePayload());
    expect((await rawGet(fake, '/_fake/instances')).body).toEqual([
      expect.objectContaining({ instance_id: 'inst:1' }),
    ]);
    expect((await rawGet(fake, '/_fake/pushes')).body).toEqual([
      expect.objectContaining({
        instance_id: 'inst:1',
        accepted: true,
        code: 0,
        update_mode: 'REPLACE',
        status: 'PENDING',
      }),
    ]);
    expect((await rawGet(fake, '/_fake/counters')).body).toMatchObject({ pushesAccepted: 1 });

    const set = await rawPost(fake, '/_fake/faults', { failNext: { count: 1, status: 500 } });
    expect(set.status).toBe(200);
    expect((await push(samplePayload())).status).toBe(500);
    expect((await rawPost(fake, '/_fake/faults', { errorRate: 2 })).status).toBe(400);

    await rawPost(fake, '/_fake/faults', { expireTokens: true });
    expect((await push(samplePayload())).body.code).toBe(99991663);
    token = await fetchToken(fake);

    expect((await rawPost(fake, '/_fake/reset', {})).status).toBe(200);
    expect(fake.instances()).toEqual([]);
    expect(fake.pushes()).toEqual([]);
    expect(fake.counters.pushesAccepted).toBe(0);
  });
});
