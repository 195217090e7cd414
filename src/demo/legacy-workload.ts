// A random but reproducible workload on the example legacy schema: new requests with steps and CCs,
// approvals, rejections, withdrawals, deleted steps and CCs, deleted requests, user renames, and
// traffic on an unmapped table. Used by the crash test, the demo and benchmarks. Two flavours of
// users table: `feishu_uid` (examples/legacy-approval: a Feishu id column added by hand) and `email`
// (examples/emails-only: users known by email and mobile only, resolved by the connector).
import type pg from 'pg';

/** How the legacy users table knows people: by a Feishu id column, or by email and mobile only. */
export type UserIdentity = 'feishu_uid' | 'email';

export interface WorkloadState {
  nextReq: number;
  nextStep: number;
  nextCc: number;
  open: number[];
  identity: UserIdentity;
  /** Users 1..people take part (seedUsers seeds at least as many). */
  people: number;
}

export function newWorkloadState(
  start = 1,
  o: { identity?: UserIdentity; people?: number } = {},
): WorkloadState {
  return {
    nextReq: start,
    nextStep: start * 10,
    nextCc: start * 10,
    open: [],
    identity: o.identity ?? 'feishu_uid',
    people: o.people ?? 20,
  };
}

/** The email and mobile seeded for user `n` of the emails-only schema (the demo's directory matches). */
export const seededEmail = (n: number): string => `user${n}@corp.example`;
export const seededMobile = (n: number): string => `139${String(n).padStart(8, '0')}`;

export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

export async function seedUsers(
  sql: pg.Pool | pg.ClientBase,
  count = 20,
  identity: UserIdentity = 'feishu_uid',
): Promise<void> {
  if (identity === 'email') {
    await sql.query(
      `insert into oa.users (user_no, login, display_name, email, mobile, dept_code)
       select g, 'user' || g, 'User ' || g, 'user' || g || '@corp.example', '139' || lpad(g::text, 8, '0'),
         'D' || (g % 4) from generate_series(1, $1::int) g
       on conflict do nothing`,
      [count],
    );
    return;
  }
  await sql.query(
    `insert into oa.users (user_no, login, display_name, feishu_uid, dept_code)
     select g, 'user' || g, 'User ' || g, 'ou_' || g, 'D' || (g % 4) from generate_series(1, $1::int) g
     on conflict do nothing`,
    [count],
  );
}

const ts = (minute: number) => `2026-11-25 08:00:00'::timestamp + interval '${minute} minutes`;

/** Runs one random transaction; returns what it did. */
export async function workloadStep(
  sql: pg.Pool,
  state: WorkloadState,
  random: () => number,
  clock: { minute: number },
): Promise<string> {
  clock.minute += 1;
  const at = `'${ts(clock.minute)}'`;
  const pick = random();
  const user = () => 1 + Math.floor(random() * state.people);
  if (pick < 0.3 || state.open.length < 3) {
    const req = state.nextReq++;
    const steps = 1 + Math.floor(random() * 3);
    const parts = [
      `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, submitted_at, updated_at)
       values (${req}, ${1 + Math.floor(random() * 3)}, 'Request ${req}', ${user()}, 1, ${(random() * 1000).toFixed(2)}, 'reason ${req}', ${at}, ${at})`,
    ];
    for (let i = 0; i < steps; i++) {
      parts.push(`insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        values (${state.nextStep++}, ${req}, ${i + 1}, 'Node ${i + 1}', ${user()}, 0, ${at}, ${at})`);
    }
    if (random() < 0.5)
      parts.push(
        `insert into oa.cc (cc_no, req_id, user_no, created_at, updated_at) values (${state.nextCc++}, ${req}, ${user()}, ${at}, ${at})`,
      );
    await sql.query(`begin; ${parts.join(';\n')}; commit;`);
    state.open.push(req);
    return 'insert';
  }
  const idx = Math.floor(random() * state.open.length);
  const req = state.open[idx] as number;
  if (pick < 0.6) {
    await sql.query(`update oa.steps set state_code = 1, acted_at = ${at}, updated_at = ${at}
      where step_id = (select min(step_id) from oa.steps where req_id = ${req} and state_code = 0)`);
    return 'approve-step';
  }
  if (pick < 0.7) {
    await sql.query(`begin; update oa.requests set status_code = ${random() < 0.5 ? 2 : 3}, finished_at = ${at}, updated_at = ${at} where req_id = ${req};
      update oa.steps set state_code = 4, updated_at = ${at} where req_id = ${req} and state_code = 0; commit;`);
    state.open.splice(idx, 1);
    return 'finish';
  }
  if (pick < 0.78) {
    await sql.query(
      `delete from oa.steps where step_id = (select max(step_id) from oa.steps where req_id = ${req})`,
    );
    return 'delete-step';
  }
  if (pick < 0.84) {
    await sql.query(`update oa.cc set read_flag = 'Y', updated_at = ${at} where req_id = ${req}`);
    return 'read-cc';
  }
  if (pick < 0.88) {
    await sql.query(
      `begin; delete from oa.steps where req_id = ${req}; delete from oa.cc where req_id = ${req}; delete from oa.requests where req_id = ${req}; commit;`,
    );
    state.open.splice(idx, 1);
    return 'delete-request';
  }
  if (pick < 0.92) {
    // A person's identity changes: a new Feishu id, or a new email between two mailboxes (the
    // connector re-resolves it and pushes again the instances that use it).
    await sql.query(
      state.identity === 'email'
        ? `update oa.users set email = case when email like '%@corp.example' then 'user' || user_no || '@mail.corp.example'
             else 'user' || user_no || '@corp.example' end where user_no = ${user()}`
        : `update oa.users set feishu_uid = 'ou_' || user_no || '_' || ${clock.minute} where user_no = ${user()}`,
    );
    return 'rename-user';
  }
  await sql.query(`insert into oa.audit_log (message) select 'audit ' || g from generate_series(1, 50) g`);
  return 'unmapped';
}
