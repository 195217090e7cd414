// Fault: the legacy schema changes while the connector streams: a column added to mapped tables, an
// unmapped column dropped, an unmapped column renamed, each followed by traffic on the changed table.
// Then a MAPPED column (oa.steps.node_name) is renamed and a step updated: the observed behaviour is
// recorded in the FAULT line (the replica keeps only mapped columns, so the renamed one is simply
// missing from the new row image). Finally the rename is undone, the rows touched again, and Feishu
// must equal the database. Invariants as everywhere.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForConvergence } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { startConnectorProcess, type ConnectorProcess } from './support/connector-process.js';
import { startFaultFixture, type FaultFixture } from './support/fault-fixture.js';
import { faultLine, seconds, sleep } from './support/fault-line.js';
import { startWorkload } from './support/fault-workload.js';
import { checkPushOrder } from './support/invariants.js';

describe('fault: schema changes mid-stream on mapped tables', () => {
  let fx: FaultFixture;
  let conn: ConnectorProcess | undefined;

  beforeAll(async () => {
    fx = await startFaultFixture();
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await conn?.stop();
    await fx?.close();
  });

  it('follows added, dropped and renamed columns, and reports what a renamed mapped column does', async () => {
    const started = Date.now();
    const sampler = fx.startAckSampler();
    conn = startConnectorProcess({ env: fx.connectorEnv() });
    const workload = startWorkload(fx.sql, { seed: 66, background: false });
    await workload.burst(40);
    await waitForConvergence(fx, 60_000);

    const ddl = [
      `alter table oa.steps add column escalated boolean not null default false`,
      `alter table oa.requests add column priority integer`,
      `alter table oa.steps drop column opinion`,
      `alter table oa.steps rename column escalated to escalated_flag`,
    ];
    for (const statement of ddl) {
      await fx.sql.query(statement);
      await workload.burst(15);
      await fx.sql.query(
        `update oa.steps set updated_at = updated_at + interval '1 second' where step_id in (select step_id from oa.steps order by step_id desc limit 5)`,
      );
      await fx.sql.query(
        `update oa.requests set updated_at = updated_at + interval '1 second' where req_id in (select req_id from oa.requests order by req_id desc limit 3)`,
      );
      await waitForConvergence(fx, 60_000);
    }
    expect(conn.selfExits).toEqual([]);

    // A mapped column renamed under the connector.
    const target = (
      await fx.sql.query<{ step_id: string; req_id: string }>(
        `select step_id::text, req_id::text from oa.steps s where exists (select 1 from oa.requests r where r.req_id = s.req_id) order by step_id desc limit 1`,
      )
    ).rows[0];
    expect(target).toBeTruthy();
    const stepId = target?.step_id ?? '0';
    const reqId = target?.req_id ?? '0';
    const pushesBefore = fx.fake.pushes().filter((p) => p.instance_id === `oa-req-${reqId}`).length;
    await fx.sql.query(`alter table oa.steps rename column node_name to node_label`);
    await fx.sql.query(
      `update oa.steps set state_code = 1, acted_at = updated_at + interval '5 minutes', updated_at = updated_at + interval '5 minutes' where step_id = $1`,
      [stepId],
    );
    await sleep(5000);
    const state = new pg.Client({ connectionString: fx.directStateUrl });
    await state.connect();
    const inst = (
      await state.query<{
        parked_reason: string | null;
        version: string;
        synced_version: string;
        last_error: string | null;
      }>(
        `select parked_reason, version::text, synced_version::text, last_error from "${fx.settings.stateSchema}".instance where external_id = $1`,
        [`oa-req-${reqId}`],
      )
    ).rows[0];
    const image = (
      await state.query<{ data: Record<string, unknown> }>(
        `select data from "${fx.settings.stateSchema}".row_image where tbl = 'oa.steps' and pk = $1`,
        [JSON.stringify([stepId])],
      )
    ).rows[0];
    await state.end();
    const stored = fx.fake.instance(`oa-req-${reqId}`);
    const task = stored?.task_list?.find((t) => t.task_id === `oa-step-${stepId}`);
    const pushesAfter = fx.fake.pushes().filter((p) => p.instance_id === `oa-req-${reqId}`).length;
    const observed = inst?.parked_reason
      ? `instance parked: ${inst.parked_reason.slice(0, 160)}`
      : inst && BigInt(inst.version) > BigInt(inst.synced_version)
        ? `instance pending (version ${inst.version} > synced ${inst.synced_version}), last error: ${inst.last_error ?? 'none'}`
        : `instance pushed; Feishu task status ${task?.status ?? '?'}, node_name key ${task?.node_name === undefined ? 'absent' : JSON.stringify(task.node_name)}`;
    const imageHasNodeName = image ? 'node_name' in image.data : false;
    const warnings = conn.grep(/"level":"(warn|error|fatal)".*(node_name|node_label|column)/).length;

    // Undo the rename; the next change of the row restores the column in the replica.
    await fx.sql.query(`alter table oa.steps rename column node_label to node_name`);
    await fx.sql.query(
      `update oa.steps set updated_at = updated_at + interval '1 minute' where step_id = $1`,
      [stepId],
    );
    await workload.burst(10);
    await waitForConvergence(fx, 60_000);

    const ack = await sampler.stop();
    const order = checkPushOrder(fx.fake.pushes());
    faultLine(
      'schema-change',
      'added columns (oa.steps, oa.requests), dropped unmapped oa.steps.opinion, renamed unmapped oa.steps.escalated, each under traffic; then renamed MAPPED oa.steps.node_name -> node_label, updated a step, renamed back',
      'Feishu == database after each change and at the end, no connector exit, update_time never back, confirmed <= checkpoint',
      {
        mappedRenameObserved: `"${observed}"; replica image keeps node_name: ${imageHasNodeName}; pushes of that instance during the rename: ${pushesAfter - pushesBefore}; warnings logged about it: ${warnings}`,
        instances: fx.fake.instances().length,
        pushesAccepted: order.accepted,
        connectorSelfExits: conn.selfExits.length,
        duration: seconds(started),
      },
    );
    expect(conn.selfExits).toEqual([]);
    expect(ack.violations).toEqual([]);
    expect(order.regressions).toEqual([]);
  });
});
