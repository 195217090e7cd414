// One row the replica cannot index or store must not stop the stream (issue 14, case 1): keys of any
// legal length work, a change the state database refuses is parked with its reason while later
// changes flow, and a stream failing again and again at one position says so.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUsers } from '../support/legacy-workload.js';
import {
  LEGACY_SCHEMA,
  startConnectorFixture,
  waitFor,
  type ConnectorFixture,
} from '../support/connector-fixture.js';

const request = (id: number, title = `R${id}`) =>
  `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at) values (${id}, 1, '${title}', 1, 1, '2026-11-20 09:00:00', '2026-11-20 09:00:00')`;
const step = (id: number, req: string) =>
  `insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at) values (${id}, '${req}', 1, 'N', 2, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00')`;

// The task parent is a text column without an index at the source, as in the report: a value of
// any length is legal there.
const TEXT_PARENT_SCHEMA = `${LEGACY_SCHEMA}
drop index oa.steps_req;
alter table oa.steps alter column req_id type text;`;

/** 6,400 characters that do not compress (a repeated character would fit a btree entry compressed). */
const longKey = () => randomBytes(4800).toString('base64');

describe('replica failure domains', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    fx = await startConnectorFixture({ schemaSql: TEXT_PARENT_SCHEMA });
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('keeps streaming past a row whose task parent is 6,400 characters', async () => {
    const parent = longKey();
    expect(parent).toHaveLength(6400);
    await fx.sql.query(`${request(1)}; ${step(10, '1')}`);
    await waitFor(() => fx.fake.instance('oa-req-1'), 20_000, 'instance 1 in Feishu');
    await fx.sql.query(step(11, parent));
    await fx.sql.query(`${request(2)}; ${step(20, '2')}`);
    const second = await waitFor(() => fx.fake.instance('oa-req-2'), 20_000, 'instance 2 in Feishu');
    expect(second.task_list?.map((t) => t.task_id)).toEqual(['oa-step-20']);
    // The long-keyed row is in the replica, found by its key and by the lookup of its parent.
    const { rows } = await fx.sql.query(
      `select count(*)::int as n from "${fx.settings.stateSchema}".row_image where tbl = 'oa.steps' and data ->> 'req_id' = $1`,
      [parent],
    );
    expect(rows[0].n).toBe(1);
    await fx.sql.query(
      `update oa.steps set node_name = 'M', updated_at = '2026-11-20 10:00:00' where step_id = 11`,
    );
    await fx.sql.query(`update oa.requests set title = 'R1 again' where req_id = 1`);
    await waitFor(
      () => JSON.stringify(fx.fake.instance('oa-req-1') ?? {}).includes('R1 again'),
      20_000,
      'instance 1 updated',
    );
    const stored = await fx.sql.query(
      `select data ->> 'node_name' as node from "${fx.settings.stateSchema}".row_image where tbl = 'oa.steps' and data ->> 'req_id' = $1`,
      [parent],
    );
    expect(stored.rows[0].node).toBe('M');
  });
});
