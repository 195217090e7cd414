// Two state databases pushing the same instances to one Feishu app, one after the other (a rebuilt
// state database, a second deployment): the update_time Feishu holds never goes down, and a change
// made after the switch is visible in Feishu (issue 14, case 10).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seedUsers } from '../support/legacy-workload.js';
import {
  LEGACY_MAPPINGS,
  startConnectorFixture,
  waitFor,
  type ConnectorFixture,
} from '../support/connector-fixture.js';

const AT = '2026-11-20 09:00:00';
const request = `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at) values (1, 1, 'R1', 1, 1, '${AT}', '${AT}')`;
const step = `insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at) values (10, 1, 1, 'N', 2, 0, '${AT}', '${AT}')`;

/** Changes the step's node name without touching the request's updated_at (the instance's update_time). */
const renameStep = (name: string) => `update oa.steps set node_name = '${name}' where step_id = 10`;

function heldTimes(fx: ConnectorFixture): bigint[] {
  return fx.fake
    .pushes()
    .filter((p) => p.accepted && p.instance_id === 'oa-req-1' && p.update_time)
    .map((p) => BigInt(p.update_time as string));
}

const nodeName = (fx: ConnectorFixture) => {
  const inst = fx.fake.instance('oa-req-1');
  const key = inst?.task_list?.[0]?.node_name;
  return inst?.i18n_resources?.flatMap((r) => r.texts).find((t) => t.key === key)?.value;
};

describe.each(['REPLACE', 'UPDATE'])('a second state database on the same Feishu app (%s)', (mode) => {
  it('never lowers the update_time Feishu holds, and its later change is visible in Feishu', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'approval-cdc-floor-'));
    const mappingsPath = join(dir, 'mappings.yaml');
    writeFileSync(
      mappingsPath,
      readFileSync(LEGACY_MAPPINGS, 'utf8').replace('update_mode: REPLACE', `update_mode: ${mode}`),
    );
    const fx = await startConnectorFixture({ mappingsPath });
    try {
      await seedUsers(fx.sql);
      await fx.sql.query(`${request}; ${step}`);
      await waitFor(() => nodeName(fx) === 'N', 20_000, 'the first state database pushes the instance');
      // Same request updated_at: the first state database sends its last update_time + 1.
      await fx.sql.query(renameStep('N2'));
      await waitFor(() => nodeName(fx) === 'N2', 20_000, 'the rename in Feishu');
      const held = fx.fake.instance('oa-req-1')?.update_time as string;
      await fx.stopPipeline();

      // A fresh state database (its own schema and slot), same source, same Feishu app.
      const second = {
        ...fx.settings,
        stateSchema: 'approval_cdc_second',
        slotName: `${fx.settings.slotName}_second`,
      };
      await fx.startPipeline({ settings: second });
      await waitFor(() => heldTimes(fx).length >= 3, 20_000, 'the second state database pushes the instance');
      await fx.sql.query(renameStep('N3'));
      await waitFor(() => nodeName(fx) === 'N3', 20_000, 'the change made after the switch in Feishu');

      const times = heldTimes(fx);
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1] as bigint);
      expect(BigInt(fx.fake.instance('oa-req-1')?.update_time as string)).toBeGreaterThan(BigInt(held));
      await fx.stopPipeline();
      await fx.sql.query(`select pg_drop_replication_slot($1)`, [second.slotName]);
    } finally {
      await fx.close();
    }
  });
});
