// A tenant onboarded in a day: its legacy schema knows users by email and mobile only and has no
// definitions in Feishu. Definitions are applied from definitions.yaml, people are resolved through
// batch_get_id, and everything reaches the (strict) fake with the platform codes and user_ids.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitionsFile } from '../../src/feishu/definition-spec.js';
import type { DefinitionSet } from '../../src/feishu/definition-spec.js';
import { FeishuClient } from '../../src/feishu/feishu-client.js';
import { definitionFindings } from '../../src/ops/doctor-definitions.js';
import { migrateStateDb, openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { applyDefinitions, planDefinitions } from '../../src/sync/definitions-sync.js';
import { IdentityResolver } from '../../src/sync/identity-resolver.js';
import { InstanceViews } from '../../src/replica/instance-views.js';
import { RateBudget } from '../../src/sync/rate-budget.js';
import { usersReport } from '../../src/sync/users-report.js';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';

const ROOT = new URL('../../examples/emails-only/', import.meta.url);
// The emails-only schema is the example legacy schema with the users table changed (it runs after it).
const SCHEMA = ['../legacy-approval/schema.sql', 'schema.sql']
  .map((file) => readFileSync(new URL(file, ROOT), 'utf8'))
  .join('\n');
const MAPPINGS = new URL('mappings', ROOT).pathname;

const DIRECTORY = [
  { user_id: 'u_alice', open_id: 'ou_alice', union_id: 'on_alice', email: 'alice@corp.example' },
  { user_id: 'u_bob', open_id: 'ou_bob', union_id: 'on_bob', email: 'bob@corp.example' },
  { user_id: 'u_robert', open_id: 'ou_robert', union_id: 'on_robert', email: 'robert@corp.example' },
  { user_id: 'u_carol', open_id: 'ou_carol', union_id: 'on_carol', mobile: '+8613900000003' },
];

describe('onboarding a tenant whose legacy schema has no Feishu ids', () => {
  let fx: ConnectorFixture;
  let state: StateConnection;
  let client: FeishuClient;
  let set: DefinitionSet;
  const schema = () => fx.settings.stateSchema;

  beforeAll(async () => {
    // No approval code is known to the fake beforehand: instances pass only under applied definitions.
    fx = await startConnectorFixture({
      schemaSql: SCHEMA,
      mappingsPath: MAPPINGS,
      fake: { approvalCodes: [], directory: DIRECTORY },
      noPipeline: true,
    });
    state = openStateDb(fx.stateUrl, schema(), { max: 2 });
    await migrateStateDb(state);
    client = new FeishuClient({ baseUrl: fx.fake.url, appId: fx.fake.appId, appSecret: fx.fake.appSecret });
    const loaded = loadDefinitionsFile(new URL('mappings/definitions.yaml', ROOT).pathname);
    if (!loaded) throw new Error('examples/emails-only/mappings/definitions.yaml is missing');
    set = loaded;
    await fx.sql.query(`insert into oa.users (user_no, login, display_name, email, mobile) values
      (1, 'alice', 'Alice', 'alice@corp.example', null),
      (2, 'bob', 'Bob', 'bob@corp.example', null),
      (3, 'carol', 'Carol', 'carol@home.example', '13900000003'),
      (4, 'ghost', 'Ghost', 'ghost@corp.example', null)`);
  });
  afterAll(async () => {
    await client?.close();
    await state?.close();
    await fx?.close();
  });

  it('applies every definition on an empty tenant, then a second apply changes nothing', async () => {
    expect(fx.mappings.definitionKeys?.()).toEqual(['oa-expense', 'oa-leave', 'oa-purchase']);
    const before = await definitionFindings(fx.settings, fx.mappings);
    expect(before.filter((f) => !f.ok).map((f) => f.finding)).toEqual([
      expect.stringContaining('definition oa-leave is missing in Feishu (not created yet)'),
      expect.stringContaining('definition oa-expense is missing in Feishu'),
      expect.stringContaining('definition oa-purchase is missing in Feishu'),
    ]);
    const plan = await planDefinitions(set, client, state.db, schema());
    expect(plan.items.map((i) => [i.key, i.action])).toEqual([
      ['oa-leave', 'create'],
      ['oa-expense', 'create'],
      ['oa-purchase', 'create'],
    ]);
    await expect(applyDefinitions(plan, client, state.db, schema(), { allowCreate: false })).rejects.toThrow(
      /--allow-create/,
    );
    expect(fx.fake.approvals()).toEqual([]);
    const applied = await applyDefinitions(plan, client, state.db, schema(), { allowCreate: true });
    const created = fx.fake.approvals();
    expect(created.map((d) => d.customCode).sort()).toEqual(['oa-expense', 'oa-leave', 'oa-purchase']);
    expect(applied.map((a) => a.platformCode).sort()).toEqual(created.map((d) => d.platformCode).sort());

    const usedBefore = fx.fake.quota.used;
    const again = await planDefinitions(set, client, state.db, schema());
    expect(again.items.map((i) => i.action)).toEqual(['no-op', 'no-op', 'no-op']);
    const reapplied = await applyDefinitions(again, client, state.db, schema(), { allowCreate: false });
    expect(reapplied.every((a) => a.action === 'no-op')).toBe(true);
    // The plan's three GETs are the only counted calls: apply sent nothing.
    expect(fx.fake.quota.used - usedBefore).toBe(3);
    expect(fx.fake.approvals()).toEqual(created);
    const after = await definitionFindings(fx.settings, fx.mappings);
    expect(after.map((f) => [f.ok, f.finding])).toEqual([
      [true, 'the 3 definition(s) the mappings use are applied and match'],
    ]);
  });

  it('plans one update, naming the field, when a definition is renamed', async () => {
    const renamed: DefinitionSet = {
      ...set,
      definitions: set.definitions.map((d) =>
        d.key === 'oa-expense' ? { ...d, name: { ...d.name, 'zh-CN': '费用报销' } } : d,
      ),
    };
    const plan = await planDefinitions(renamed, client, state.db, schema());
    expect(plan.items.map((i) => i.action)).toEqual(['no-op', 'update', 'no-op']);
    expect(plan.items[1]?.reasons.join()).toContain('费用报销');
    expect(plan.callsToApply).toBe(1);
  });

  it('pushes every instance with the returned platform code and the resolved user_ids', async () => {
    await fx.sql.query(`begin;
      insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        values (101, 1, 'Leave', 1, 1, '2026-11-20 09:00:00', '2026-11-20 09:00:00'),
               (102, 2, 'Taxi', 4, 1, '2026-11-20 09:00:00', '2026-11-20 09:00:00');
      insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        values (1001, 101, 1, 'Manager', 2, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00'),
               (1002, 101, 2, 'HR', 3, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00'),
               (2001, 102, 1, 'Manager', 4, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00');
      insert into oa.cc (cc_no, req_id, user_no, read_flag, created_at, updated_at)
        values (501, 101, 4, 'N', '2026-11-20 09:00:00', '2026-11-20 09:00:00'),
               (502, 101, 1, 'N', '2026-11-20 09:00:00', '2026-11-20 09:00:00');
      commit;`);
    await fx.startPipeline();
    const leave = fx.fake.approvals().find((d) => d.customCode === 'oa-leave')?.platformCode;
    const inst = await waitFor(() => fx.fake.instance('oa-req-101'), 20_000, 'oa-req-101 in Feishu');
    expect(inst.approval_code).toBe(leave);
    expect(inst.user_id).toBe('u_alice');
    // Bob by email; Carol's email is unknown to Feishu, her mobile is the fallback.
    expect(inst.task_list?.map((t) => [t.task_id, t.user_id])).toEqual([
      ['oa-step-1001', 'u_bob'],
      ['oa-step-1002', 'u_carol'],
    ]);
    // The CC of the unknown user is dropped (the mapping says otherwise: drop); Alice's stays.
    expect(inst.cc_list?.map((c) => [c.cc_id, c.user_id])).toEqual([['oa-cc-502', 'u_alice']]);
  });

  it('parks the instance whose approver has an unknown email, with the reason', async () => {
    const store = new InstanceViews(state.db, schema());
    const parked = await waitFor(
      async () => (await store.listParked()).find((p) => p.externalId === 'oa-req-102'),
      20_000,
      'oa-req-102 parked',
    );
    expect(parked.reason).toContain('no Feishu user for email ghost@corp.example');
    expect(fx.fake.instance('oa-req-102')).toBeUndefined();
  });

  it('re-resolves a user whose email changes and pushes the instances that use it again', async () => {
    await fx.sql.query(`update oa.users set email = 'robert@corp.example' where user_no = 2`);
    await waitFor(
      () => fx.fake.instance('oa-req-101')?.task_list?.[0]?.user_id === 'u_robert',
      20_000,
      'the task of user 2 to move to u_robert',
    );
  });

  it('lists the identity that does not resolve in users report, with its count', async () => {
    const resolver = new IdentityResolver({
      db: state.db,
      schema: schema(),
      api: client,
      budget: new RateBudget({ perSecond: 50, perMinute: 1000 }),
      refreshMs: 60_000,
      negativeRefreshMs: 0,
    });
    const report = await usersReport(state.db, schema(), fx.mappings, resolver);
    expect(report.instances).toBe(2);
    expect(report.unresolved).toEqual([
      { kind: 'email', value: 'ghost@corp.example', idType: 'user_id', instances: 2 },
      { kind: 'email', value: 'carol@home.example', idType: 'user_id', instances: 1 },
    ]);
    expect(report.parking).toBe(1);
    expect(report.examples[0]?.instance).toBe('oa-req-102');
    // Every negative entry was looked up again in one batched call.
    expect(resolver.calls).toBe(1);
  });
});
