// Pushes that would change nothing in Feishu are not made: a rewrite of mapped columns to the same
// values, or an edit of columns no mapping reads, does not even dirty the instance; a change whose
// payload differs only in update_time is synced without a push; a real change is pushed once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.js';

describe('pushes that change nothing in Feishu', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    fx = await startConnectorFixture();
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await fx?.close();
  });

  const accepted = (id: string) => fx.fake.pushes().filter((p) => p.instance_id === id && p.accepted);
  const version = async (id: string) =>
    Number(
      (await fx.state.query(`select version from approval_cdc.instance where external_id = $1`, [id])).rows[0]
        ?.version,
    );

  it('pushes request 1 again only for the change Feishu users can see', async () => {
    await fx.sql.query(`begin;
      insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        values (1, 1, 'R1', 1, 1, '2026-11-20 09:00:00', '2026-11-20 09:00:00');
      insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        values (10, 1, 1, 'N', 2, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00');
      commit`);
    await waitFor(() => accepted('oa-req-1').length === 1, 20_000, 'the first push');
    const before = await version('oa-req-1');

    // Rewrites and unmapped edits: the replica sees no kept column change, nothing is dirtied.
    await fx.sql.query(`update oa.requests set title = title`);
    await fx.sql.query(`update oa.steps set opinion = 'looked at it', seq = 2`);
    await fx.sql.query(`update oa.users set display_name = display_name || '!'`);
    // Only the instance's update time moves: dirtied, but the payload shows nothing new.
    await fx.sql.query(`update oa.requests set updated_at = updated_at + interval '1 minute'`);
    await waitFor(
      async () => {
        const { rows } = await fx.state.query(
          `select version = synced_version as synced from approval_cdc.instance where external_id = 'oa-req-1'`,
        );
        return (await version('oa-req-1')) > before && rows[0]?.synced === true;
      },
      20_000,
      'the update-time change to be synced',
    );
    expect(await version('oa-req-1')).toBe(before + 1);
    // A real change, then: pushed once.
    await fx.sql.query(`update oa.requests set title = 'R1 renamed'`);
    await waitFor(() => accepted('oa-req-1').length === 2, 20_000, 'the rename');
    const texts = fx.fake.instance('oa-req-1')?.i18n_resources?.flatMap((r) => r.texts.map((t) => t.value));
    expect(texts).toContain('R1 renamed');
    await new Promise((r) => setTimeout(r, 500));
    expect(accepted('oa-req-1')).toHaveLength(2);
    const metrics = await fx.pipeline!.metrics.registry.metrics();
    expect(sampleValue(parsePrometheusText(metrics), 'approval_cdc_unchanged_payloads_total')).toBe(1);
  });
});
