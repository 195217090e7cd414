import { Writable } from 'node:stream';
import { decisionsCommand } from '../../src/cli/decisions.js';
import type { Settings } from '../../src/config/settings.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DecisionStore, type Decision } from '../../src/decisions/decision-store.js';
import { encryptCallback } from '../../src/feishu/callback-crypto.js';
import type { CardView } from '../../src/feishu/fake/fake-feishu.js';
import { openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';
import {
  CALLBACK_TOKEN,
  dropLoopRole,
  insertPendingRequest,
  loopSettings,
  prepareLoopDatabase,
  writtenBack,
} from '../support/loop-fixture.js';
import { createTestDatabase } from '../support/test-database.js';

describe('quick approval: a decision taken in Feishu flows back through the legacy database', () => {
  let fx: ConnectorFixture;
  let state: StateConnection;
  let inbox: DecisionStore;
  let callbackUrl: string;

  beforeAll(async () => {
    const db = await createTestDatabase('loop');
    const role = `${db.name}_wb`;
    const url = new URL(db.url);
    url.username = role;
    url.password = 'wb';
    fx = await startConnectorFixture({
      database: db,
      noPipeline: true,
      settings: loopSettings({ writebackRole: role, writebackUrl: url.toString() }),
      afterClose: () => dropLoopRole(inject('adminUrl'), role),
    });
    await prepareLoopDatabase(db, fx.sql);
    const pipeline = await fx.startPipeline();
    callbackUrl = pipeline.loop?.callbackUrl ?? '';
    state = openStateDb(fx.stateUrl, fx.settings.stateSchema, { max: 2 });
    inbox = new DecisionStore(state.db, fx.settings.stateSchema);
  });
  afterAll(async () => {
    await state?.close();
    await fx?.close();
  });

  const cardOf = (user: string, title: string) =>
    waitFor(
      () => fx.fake.userView(user).find((c) => c.title === title),
      20_000,
      `a card "${title}" for ${user}`,
    );
  const step = async (id: number) =>
    (await fx.sql.query(`select state_code, opinion, approver_no from oa.steps where step_id = $1`, [id]))
      .rows[0];
  const ledger = (instanceId: string) => writtenBack(fx.sql, instanceId);
  const decisionsOf = async (instanceId: string): Promise<Decision[]> =>
    (await inbox.list('all')).filter((d) => d.instanceId === instanceId);

  it('sends the approver a card, applies the approval once, and ends with Feishu APPROVED and the card closed', async () => {
    await insertPendingRequest(fx.sql, 201, 2001, 2);
    const card: CardView = await cardOf('ou_bob', 'Taxi 201');
    expect(card.actions).toEqual(['APPROVE', 'REJECT']);
    expect(card.summaries.some((s) => s.includes('42.5'))).toBe(true);
    expect(fx.fake.card(card.message_id)?.body.uuid).toMatch(/^c:[0-9a-f]{40}:1$/);
    // The card was sent after the push that made the task visible.
    expect(fx.fake.instance('oa-req-201')?.task_list?.[0]?.status).toBe('PENDING');

    const answer = await fx.fake.act(card.message_id, { action_type: 'APPROVE', reason: 'fine' });
    expect(answer.httpStatus).toBe(200);

    await waitFor(
      async () => (await step(2001))?.state_code === 1,
      20_000,
      'step 2001 agreed in the OA database',
    );
    expect((await step(2001))?.opinion).toBe('fine');
    const request = await fx.sql.query(`select status_code from oa.requests where req_id = 201`);
    expect(request.rows[0].status_code).toBe(2);
    await waitFor(
      () => fx.fake.instance('oa-req-201')?.status === 'APPROVED',
      20_000,
      'Feishu: oa-req-201 APPROVED',
    );
    expect(fx.fake.instance('oa-req-201')?.task_list?.[0]?.status).toBe('APPROVED');
    await waitFor(
      () => fx.fake.card(card.message_id)?.status === 'APPROVED',
      20_000,
      'the card closed APPROVED',
    );
    expect(fx.fake.userView('ou_bob').find((c) => c.message_id === card.message_id)?.actions).toEqual([]);

    await waitFor(
      async () => (await decisionsOf('oa-req-201'))[0]?.state === 'applied',
      20_000,
      'the decision marked applied',
    );
    const decisions = await decisionsOf('oa-req-201');
    expect(decisions.map((d) => [d.state, d.actionType, d.operatorUserId, d.via])).toEqual([
      ['applied', 'APPROVE', 'ou_bob', 'card'],
    ]);
    expect(await ledger('oa-req-201')).toBe(1);
  });

  it('applies a callback that arrives twice only once', async () => {
    await insertPendingRequest(fx.sql, 202, 2002, 3);
    const card = await cardOf('ou_carol', 'Taxi 202');
    const answers = await Promise.all([
      fx.fake.act(card.message_id, { action_type: 'REJECT', reason: 'no receipt' }),
      fx.fake.act(card.message_id, { action_type: 'REJECT', reason: 'no receipt' }),
    ]);
    expect(answers.map((a) => a.httpStatus)).toEqual([200, 200]);
    await waitFor(
      async () => (await decisionsOf('oa-req-202'))[0]?.state === 'applied',
      20_000,
      'decision applied',
    );
    // Feishu retries a callback it got no answer to: the same click once more after it was applied.
    const again = await fx.fake.act(card.message_id, {
      action_type: 'REJECT',
      reason: 'no receipt',
      stale: true,
    });
    expect(again.httpStatus).toBe(200);
    expect(await decisionsOf('oa-req-202')).toHaveLength(1);
    expect(await ledger('oa-req-202')).toBe(1);
    expect((await step(2002))?.state_code).toBe(2);
    await waitFor(
      () => fx.fake.instance('oa-req-202')?.status === 'REJECTED',
      20_000,
      'Feishu: oa-req-202 REJECTED',
    );
  });

  it('answers a bad token with 401 and writes nothing', async () => {
    await insertPendingRequest(fx.sql, 203, 2003, 2);
    const card = await cardOf('ou_bob', 'Taxi 203');
    const before = (await inbox.list('all')).length;
    const body = (token: string) =>
      `{"action_type":"APPROVE","user_id":"ou_bob","approval_code":"","message_id":${card.message_id},"token":"${token}"}`;
    const post = (text: string) =>
      fetch(callbackUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
    const bad = await post(body('not-the-token'));
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ without_prefix: 'true' });
    // A body encrypted although no key is configured cannot have come from Feishu either.
    expect((await post(JSON.stringify({ encrypt: encryptCallback('k', body(CALLBACK_TOKEN)) }))).status).toBe(
      401,
    );
    expect((await post('x'.repeat(70_000))).status).toBe(413);
    expect((await fetch(callbackUrl, { method: 'GET' })).status).toBe(405);
    expect((await inbox.list('all')).length).toBe(before);
    expect((await step(2003))?.state_code).toBe(0);
    // The same body with the right token is taken: the refusal above was the token's alone.
    expect((await post(body(CALLBACK_TOKEN))).status).toBe(200);
    await waitFor(async () => (await step(2003))?.state_code === 1, 20_000, 'step 2003 agreed');
  });

  it('refuses a decision on a task that already ended, and updates the card again', async () => {
    await insertPendingRequest(fx.sql, 204, 2004, 2);
    const card = await cardOf('ou_bob', 'Taxi 204');
    // Approved in the OA system's own UI meanwhile.
    await fx.sql
      .query(`update oa.steps set state_code = 1, acted_at = localtimestamp, updated_at = localtimestamp
      where step_id = 2004; update oa.requests set status_code = 2, finished_at = localtimestamp, updated_at = localtimestamp
      where req_id = 204`);
    await waitFor(
      () => fx.fake.card(card.message_id)?.status === 'APPROVED',
      20_000,
      'the card closed APPROVED',
    );
    const updates = fx.fake.card(card.message_id)?.updates.length ?? 0;
    // A client that still shows the old card: the click is refused with a message the approver sees.
    const late = await fx.fake.act(card.message_id, {
      action_type: 'REJECT',
      reason: 'too late',
      stale: true,
    });
    expect(late.httpStatus).toBe(409);
    expect(JSON.parse(late.body)).toMatchObject({ without_prefix: 'true' });
    expect(JSON.parse(late.body).message).toContain('APPROVED');
    await waitFor(
      () => (fx.fake.card(card.message_id)?.updates.length ?? 0) > updates,
      20_000,
      'the card updated again',
    );
    expect(fx.fake.card(card.message_id)?.status).toBe('APPROVED');
    expect((await decisionsOf('oa-req-204')).map((d) => d.state)).toEqual(['refused']);
    expect(await ledger('oa-req-204')).toBe(0);
    expect((await step(2004))?.state_code).toBe(1);
  });

  it('refuses a click by someone who is not the assignee', async () => {
    await insertPendingRequest(fx.sql, 205, 2005, 2);
    const card = await cardOf('ou_bob', 'Taxi 205');
    const other = await fx.fake.act(card.message_id, { action_type: 'APPROVE', user_id: 'ou_carol' });
    expect(other.httpStatus).toBe(409);
    expect((await decisionsOf('oa-req-205')).map((d) => d.state)).toEqual(['refused']);
    expect((await step(2005))?.state_code).toBe(0);
  });

  it('parks a decision whose write-back statement fails, with the reason, and applies it after `decisions retry`', async () => {
    await insertPendingRequest(fx.sql, 206, 2006, 3);
    const card = await cardOf('ou_carol', 'Taxi 206');
    const role = new URL(fx.settings.writebackUrl ?? '').username;
    await fx.sql.query(`revoke update on oa.steps from "${role}"`);
    expect((await fx.fake.act(card.message_id, { action_type: 'APPROVE' })).httpStatus).toBe(200);
    const parked = await waitFor(
      async () => (await decisionsOf('oa-req-206')).find((d) => d.state === 'parked'),
      20_000,
      'the decision parked',
    );
    expect(parked.lastError).toContain('permission denied');
    expect((await step(2006))?.state_code).toBe(0);
    expect(await ledger('oa-req-206')).toBe(0);

    await fx.sql.query(`grant update on oa.steps to "${role}"`);
    const cli = await runDecisions('retry', [`#${parked.id}`], {}, fx.settings);
    expect(cli.code, cli.out).toBe(0);
    expect(cli.out).toContain('1 parked decisions will be applied again');
    // The inbox row is marked applied after the legacy transaction committed: wait for the mark.
    await waitFor(
      async () => (await decisionsOf('oa-req-206'))[0]?.state === 'applied',
      20_000,
      'the decision applied after the retry',
    );
    expect((await decisionsOf('oa-req-206')).map((d) => d.state)).toEqual(['applied']);
    expect((await step(2006))?.state_code).toBe(1);
    expect(await ledger('oa-req-206')).toBe(1);
    const list = await runDecisions('list', [], { state: 'applied' }, fx.settings);
    expect(list.out).toContain(`#${parked.id}  applied`);
  });
});

/** `approval-cdc decisions …` in this process, with the fixture's settings, its output captured. */
async function runDecisions(
  action: 'list' | 'retry',
  ids: string[],
  flags: { state?: string },
  settings: Settings,
): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  const code = await decisionsCommand(action, ids, flags, {
    out: sink,
    err: sink,
    overrides: { ...settings },
  });
  return { code, out };
}
