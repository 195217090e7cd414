import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CdcError, isFeishuError, type FeishuErrorCode } from '../../src/errors.js';
import { FeishuClient } from '../../src/feishu/feishu-client.js';
import type { FeishuClientOptions } from '../../src/feishu/feishu-client.js';
import { startFakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import type { FakeFeishu } from '../../src/feishu/fake/fake-feishu.js';
import { fetchToken } from '../support/fake-http.js';
import { APPROVAL_CODE, samplePayload } from '../support/sample-payload.js';

const T0 = 1_700_000_000_000;
let clock = T0;
const now = (): number => clock;

let fake: FakeFeishu;
const clients: FeishuClient[] = [];

function client(overrides: Partial<FeishuClientOptions> = {}): FeishuClient {
  const c = new FeishuClient({
    baseUrl: fake.url,
    appId: fake.appId,
    appSecret: fake.appSecret,
    now,
    ...overrides,
  });
  clients.push(c);
  return c;
}

async function failure(promise: Promise<unknown>): Promise<CdcError<FeishuErrorCode>> {
  try {
    await promise;
  } catch (err) {
    if (isFeishuError(err)) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  fake = await startFakeFeishu({ approvalCodes: [APPROVAL_CODE], now });
});
afterAll(async () => {
  await fake.close();
});
afterEach(async () => {
  fake.reset();
  clock = T0;
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe('FeishuClient against the fake', () => {
  it('pushes an instance Feishu accepts', async () => {
    const result = await client().pushInstance(samplePayload());
    expect(result.accepted).toBe(true);
    expect(fake.instance('inst:1')?.status).toBe('PENDING');
  });

  it('surfaces 1390001 as FEISHU_API with disposition park and the msg naming the field', async () => {
    const err = await failure(client().pushInstance(samplePayload({ start_time: 'today' })));
    expect(err.code).toBe('FEISHU_API');
    expect(err.details).toMatchObject({ httpStatus: 400, feishuCode: 1390001, disposition: 'park' });
    expect(err.details.feishuMsg).toContain('start_time');
    expect(err.message).toContain('start_time');
  });

  it('surfaces a 429 as FEISHU_RATE_LIMITED with retryAfterMs from x-ogw-ratelimit-reset', async () => {
    const limited = await startFakeFeishu({ perSecond: 1, approvalCodes: '*', now });
    try {
      const c = client({ baseUrl: limited.url, appId: limited.appId, appSecret: limited.appSecret });
      await c.pushInstance(samplePayload());
      const err = await failure(c.pushInstance(samplePayload()));
      expect(err.code).toBe('FEISHU_RATE_LIMITED');
      expect(err.details).toMatchObject({
        httpStatus: 429,
        feishuCode: 99991400,
        disposition: 'retry',
        retryAfterMs: 1000,
      });
    } finally {
      await limited.close();
    }
  });

  it('renews the token and succeeds transparently after Feishu expired it', async () => {
    const renewals: string[] = [];
    const c = client({ onTokenRenew: (e) => renewals.push(e.reason) });
    await c.pushInstance(samplePayload());
    fake.faults.expireTokens();
    await c.pushInstance(samplePayload({ update_time: '1700000000001' }));
    expect(c.tokenRenewals).toBe(2);
    expect(renewals).toEqual(['initial', 'invalidated']);
    expect(fake.counters.invalidToken).toBe(1);
    expect(fake.instance('inst:1')?.update_time).toBe('1700000000001');
  });

  it('retries only once after a renewal, then reports a permission problem, not a token loop', async () => {
    const c = client();
    await c.verifyCredentials();
    fake.faults.set({ failNext: { count: 2, status: 400, code: 99991663 } });
    const err = await failure(c.pushInstance(samplePayload()));
    expect(err.code).toBe('FEISHU_PERMISSION');
    expect(err.details.disposition).toBe('stop');
    expect(fake.pushes()).toHaveLength(2);
  });

  it('shares one token request among concurrent calls, also when they all hit an expired token', async () => {
    const c = client();
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => c.pushInstance(samplePayload({ instance_id: `inst:${i + 10}` }))),
    );
    expect(c.tokenRenewals).toBe(1);
    expect(fake.counters.tokenRequests).toBe(1);
    fake.faults.expireTokens();
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => c.pushInstance(samplePayload({ instance_id: `inst:${i + 10}` }))),
    );
    expect(c.tokenRenewals).toBe(2);
    expect(fake.counters.tokenRequests).toBe(2);
  });

  it('renews the token ahead of its expiry', async () => {
    const c = client({ renewBeforeMs: 5 * 60_000 });
    await c.pushInstance(samplePayload());
    clock = T0 + 116 * 60_000;
    await c.pushInstance(samplePayload());
    expect(c.tokenRenewals).toBe(2);
    expect(fake.counters.invalidToken).toBe(0);
  });

  it('maps a reset connection to FEISHU_NETWORK with disposition retry', async () => {
    const c = client();
    await c.verifyCredentials();
    fake.faults.set({ resetRate: 1 });
    const err = await failure(c.pushInstance(samplePayload()));
    expect(err.code).toBe('FEISHU_NETWORK');
    expect(err.details.disposition).toBe('retry');
  });

  it('maps a refused connection to FEISHU_NETWORK with disposition retry', async () => {
    const gone = await startFakeFeishu();
    const url = gone.url;
    await gone.close();
    const err = await failure(client({ baseUrl: url }).verifyCredentials());
    expect(err.code).toBe('FEISHU_NETWORK');
    expect(err.details.disposition).toBe('retry');
    expect(err.message).toContain('refused');
  });

  it('maps a slow answer to FEISHU_TIMEOUT with disposition retry', async () => {
    const c = client({ requestTimeoutMs: 100 });
    await c.verifyCredentials();
    fake.faults.set({ latencyMs: 2_000 });
    const err = await failure(c.pushInstance(samplePayload()));
    expect(err.code).toBe('FEISHU_TIMEOUT');
    expect(err.details.disposition).toBe('retry');
  });

  it('maps a gateway 503 to FEISHU_HTTP with disposition retry', async () => {
    const c = client();
    await c.verifyCredentials();
    fake.faults.set({ down: true });
    const err = await failure(c.pushInstance(samplePayload()));
    expect(err.code).toBe('FEISHU_HTTP');
    expect(err.details).toMatchObject({ httpStatus: 503, disposition: 'retry' });
  });

  it('reports bad credentials as FEISHU_TOKEN with disposition stop', async () => {
    const wrongSecret = await failure(client({ appSecret: 'not-the-secret' }).verifyCredentials());
    expect(wrongSecret.code).toBe('FEISHU_TOKEN');
    expect(wrongSecret.details).toMatchObject({ feishuCode: 10015, disposition: 'stop' });
    const wrongId = await failure(client({ appId: 'cli_nobody' }).pushInstance(samplePayload()));
    expect(wrongId.details).toMatchObject({ feishuCode: 10003, disposition: 'stop' });
  });

  it('reports a missing scope as disposition stop', async () => {
    const narrow = await startFakeFeishu({ scopes: ['approval:external_approval'], approvalCodes: '*' });
    try {
      const err = await failure(client({ baseUrl: narrow.url }).pushInstance(samplePayload()));
      expect(err.details).toMatchObject({ feishuCode: 99991672, disposition: 'stop' });
    } finally {
      await narrow.close();
    }
  });

  it('never puts the app secret or a token into error messages or details', async () => {
    const secret = 'super-secret-value-123';
    const guarded = await startFakeFeishu({ appSecret: secret, approvalCodes: '*' });
    try {
      const good = client({ baseUrl: guarded.url, appId: guarded.appId, appSecret: secret });
      await good.verifyCredentials();
      const token = await fetchToken(guarded);
      const errors = [
        await failure(
          client({
            baseUrl: guarded.url,
            appId: guarded.appId,
            appSecret: `${secret}-wrong`,
          }).verifyCredentials(),
        ),
        await failure(good.pushInstance(samplePayload({ status: 'NOPE' as 'PENDING' }))),
      ];
      guarded.faults.set({
        failNext: { count: 2, status: 400, code: 99991663, msg: `token ${token} rejected for ${secret}` },
      });
      errors.push(await failure(good.pushInstance(samplePayload())));
      for (const err of errors) {
        const visible = `${err.message} ${JSON.stringify(err.details)}`;
        expect(visible).not.toContain(secret);
        expect(visible).not.toContain(token);
      }
    } finally {
      await guarded.close();
    }
  });

  it('checks instances and returns the diff', async () => {
    const c = client();
    await c.pushInstance(samplePayload({ update_time: '5' }));
    const diff = await c.checkInstances([
      { instance_id: 'inst:1', update_time: '5', tasks: [] },
      { instance_id: 'inst:404', update_time: '5', tasks: [] },
    ]);
    expect(diff).toEqual([{ instance_id: 'inst:404', update_time: '0', tasks: [] }]);
  });

  it('creates an approval definition that instances may then reference', async () => {
    const c = client();
    const created = await c.createApproval(
      {
        approval_name: '@i18n@approval_name',
        approval_code: 'FROM-CLIENT',
        group_code: 'grp',
        group_name: '@i18n@group_name',
        external: { support_pc: true },
        i18n_resources: [
          {
            locale: 'en-US',
            is_default: true,
            texts: [
              { key: '@i18n@approval_name', value: 'Leave' },
              { key: '@i18n@group_name', value: 'Group' },
            ],
          },
        ],
      },
      { user_id_type: 'user_id' },
    );
    // Feishu answers the platform code (a UUID), the one instances and GET need.
    expect(created.approval_code).toMatch(/^[0-9A-F-]{36}$/);
    await expect(
      c.pushInstance(samplePayload({ approval_code: created.approval_code, instance_id: 'inst:7' })),
    ).resolves.toMatchObject({ accepted: true });
    await expect(c.getApproval(created.approval_code)).resolves.toMatchObject({
      approval_code: 'FROM-CLIENT',
    });
  });
});
