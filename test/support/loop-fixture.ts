// The example legacy schema with the loop closed: the OA users, a write-back role of its own with just
// the privileges the example write-back needs, and the connector's settings for the callback
// endpoint (127.0.0.1, a free port) and the write-back. Used by the decision tests.
import pg from 'pg';
import type { TestDatabase } from './test-database.js';

export const CALLBACK_TOKEN = 'test-callback-token-0123456789';

export interface LoopDatabase {
  writebackRole: string;
  writebackUrl: string;
}

/** Creates the write-back role of `db` (cluster-wide, so named after the database) and the OA users. */
export async function prepareLoopDatabase(db: TestDatabase, sql: pg.Pool): Promise<LoopDatabase> {
  const role = `${db.name}_wb`;
  await sql.query(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = '${role}') then
        create role "${role}" login password 'wb';
      end if;
    end $$`);
  await sql.query(`grant usage on schema oa to "${role}";
    grant select, update on oa.steps, oa.requests to "${role}";
    grant select on oa.users to "${role}"`);
  await sql.query(`insert into oa.users (user_no, login, display_name, feishu_uid, dept_code) values
      (1, 'alice', 'Alice', 'ou_alice', 'D1'), (2, 'bob', 'Bob', 'ou_bob', 'D1'),
      (3, 'carol', 'Carol', 'ou_carol', 'D2') on conflict do nothing`);
  const url = new URL(db.url);
  url.username = role;
  url.password = 'wb';
  return { writebackRole: role, writebackUrl: url.toString() };
}

/** Drops the role `prepareLoopDatabase` made (after the database is gone). */
export async function dropLoopRole(adminUrl: string, role: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`drop role if exists "${role}"`);
  } finally {
    await c.end();
  }
}

export function loopSettings(loop: LoopDatabase, port = 0): Record<string, unknown> {
  return {
    callbackAddress: `127.0.0.1:${port}`,
    callbackToken: CALLBACK_TOKEN,
    writebackUrl: loop.writebackUrl,
  };
}

/** One pending request with one step for `approverNo`, as the OA system writes it. */
export async function insertPendingRequest(
  sql: pg.Pool,
  reqId: number,
  stepId: number,
  approverNo: number,
  extraStep?: { stepId: number; approverNo: number },
): Promise<void> {
  await sql.query(`begin;
    insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
      values (${reqId}, 2, 'Taxi ${reqId}', 1, 1, 42.5, 'airport', localtimestamp, localtimestamp);
    insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
      values (${stepId}, ${reqId}, 1, 'Manager', ${approverNo}, 0, localtimestamp, localtimestamp)
      ${extraStep ? `, (${extraStep.stepId}, ${reqId}, 2, 'Finance', ${extraStep.approverNo}, 0, localtimestamp, localtimestamp)` : ''};
    commit;`);
}

/** Decisions of `instanceId` written back, by the ledger the write-back keeps beside the OA rows. */
export async function writtenBack(sql: pg.Pool, instanceId: string): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(
    `select count(*)::int as n from approval_cdc.writeback_ledger where decision_key like $1`,
    [`${instanceId}|%`],
  );
  return Number(rows[0]?.n ?? 0);
}
