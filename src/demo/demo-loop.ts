// The demo's closed loop (issue 18): a write-back role of its own on the demo's legacy database, and
// one decision taken in the fake's user view: a pending request gets its approver a bot card, the
// fake's user approves it, the callback reaches the connector, the write-back changes the legacy
// rows, and the change flows back through the stream until Feishu shows the task APPROVED.
// Invariant: it acts only as a user would (the fake's act call) and only reads the legacy database
// and the fake; every step it waits for has a deadline, and it says which one did not happen.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { FakeFeishu } from '../feishu/fake/fake-feishu.js';

const WRITEBACK_ROLE = 'approval_cdc_writeback';
const STEP_DEADLINE_MS = 60_000;

/** Creates the write-back role (UPDATE on the two tables its statement changes); returns its URL. */
export async function prepareWriteBack(sql: pg.Pool, sourceUrl: string): Promise<string> {
  await sql.query(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = '${WRITEBACK_ROLE}') then
        create role ${WRITEBACK_ROLE} login password 'writeback';
      end if;
    end $$;
    grant usage on schema oa to ${WRITEBACK_ROLE};
    grant select, update on oa.steps, oa.requests to ${WRITEBACK_ROLE}`);
  const url = new URL(sourceUrl);
  url.username = WRITEBACK_ROLE;
  url.password = 'writeback';
  return url.toString();
}

export interface QuickApprovalDemo {
  sql: pg.Pool;
  fake: FakeFeishu;
  req: number;
  step: number;
  /** The approver: a legacy user number and the Feishu user_id it resolves to. */
  approverNo: number;
  approverId: string;
  say: (line: string) => void;
  signal: AbortSignal;
}

/** Runs one decision round trip; true when Feishu ended with the task APPROVED and the card closed. */
export async function showQuickApproval(o: QuickApprovalDemo): Promise<boolean> {
  const instanceId = `oa-req-${o.req}`;
  const title = `Request ${o.req}: approve me from Feishu`;
  await o.sql.query(`begin;
    insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
      values (${o.req}, 2, '${title}', 1, 1, 42.50, 'taxi to the airport', localtimestamp, localtimestamp);
    insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
      values (${o.step}, ${o.req}, 1, 'Manager', ${o.approverNo}, 0, localtimestamp, localtimestamp);
    commit;`);
  o.say(
    `quick approval: ${instanceId} pending in the legacy database, step ${o.step} for user ${o.approverNo}`,
  );

  const card = await until(o, `a bot card for ${o.approverId}`, () =>
    o.fake.userView(o.approverId).find((c) => c.title === title),
  );
  if (!card) return false;
  o.say(
    `  bot card sent to ${o.approverId} (message ${card.message_id}), buttons ${card.actions.join(', ')}; task in Feishu: ${o.fake.instance(instanceId)?.task_list?.[0]?.status ?? '?'}`,
  );

  const answer = await o.fake.act(card.message_id, { action_type: 'APPROVE', reason: 'approved in Feishu' });
  o.say(`  the fake's user ${o.approverId} clicks APPROVE: the callback answers HTTP ${answer.httpStatus}`);

  const row = await until(o, `step ${o.step} agreed in the legacy database`, async () => {
    const { rows } = await o.sql.query<{ state_code: number; opinion: string | null; status_code: number }>(
      `select s.state_code, s.opinion, r.status_code from oa.steps s join oa.requests r using (req_id)
        where s.step_id = $1`,
      [o.step],
    );
    return rows[0]?.state_code === 1 ? rows[0] : undefined;
  });
  if (!row) return false;
  o.say(
    `  write-back: oa.steps ${o.step} state_code 0 -> ${row.state_code} (opinion "${row.opinion ?? ''}"), oa.requests ${o.req} status_code 1 -> ${row.status_code}`,
  );

  const done = await until(o, `${instanceId} APPROVED in Feishu and its card closed`, () => {
    const inst = o.fake.instance(instanceId);
    const closed = o.fake.card(card.message_id)?.status === 'APPROVED';
    return inst?.status === 'APPROVED' && closed ? inst : undefined;
  });
  if (!done) return false;
  o.say(
    `  back through the stream: Feishu has ${instanceId} ${done.status}, task ${done.task_list?.[0]?.status ?? '?'}, the card closed with no buttons`,
  );
  return true;
}

async function until<T>(
  o: QuickApprovalDemo,
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = Date.now() + STEP_DEADLINE_MS;
  while (!o.signal.aborted) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) break;
    await sleep(200, undefined, { signal: o.signal }).catch(() => undefined);
  }
  if (!o.signal.aborted) o.say(`  quick approval: no ${what} within ${STEP_DEADLINE_MS / 1000} s`);
  return undefined;
}
