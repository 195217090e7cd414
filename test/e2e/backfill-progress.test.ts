import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

// A first start with 40 requests to push and 30 that park for one cause (their approver has no
// Feishu id), at a budget of 600 a minute: the backfill drains in a few seconds.
describe('backfill progress and repeated errors in the log', () => {
  let fx: ConnectorFixture;
  const lines: { msg: string; [k: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  const logged = (re: RegExp) => lines.filter((l) => re.test(l.msg));

  beforeAll(async () => {
    fx = await startConnectorFixture({
      noPipeline: true,
      settings: { ratePerMinute: 600, ratePerSecond: 10 },
    });
    await seedUsers(fx.sql);
    await fx.sql.query(
      `insert into oa.users (user_no, login, display_name, feishu_uid) values (99, 'ghost', 'Not in Feishu', null)`,
    );
    await fx.sql.query(
      `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
       select g, 1, 'R' || g, 1 + g % 5, 1, '2026-11-20 09:00', '2026-11-20 09:00' from generate_series(1, 70) g;
       insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
       select g, g, 1, 'N', case when g > 40 then 99 else 2 end, 0, '2026-11-20 09:00', '2026-11-20 09:00'
         from generate_series(1, 70) g`,
    );
    await fx.startPipeline({ logger: createLogger('info', stream) });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('logs instances left, the rate and an ETA when the backfill starts, exports them, and logs when it drained', async () => {
    const first = await waitFor(() => logged(/^backfill: /)[0], 20_000, 'a backfill progress line');
    expect(first.msg).toMatch(
      /^backfill: \d+ instances left \(bulk 0, backfill \d+\), [\d.]+ instances\/s, ETA /,
    );
    expect(first).toMatchObject({ bulk: 0, etaBasis: expect.stringMatching(/measured|budget/) });
    expect(first.remaining).toBeGreaterThan(0);
    expect(first.etaSeconds).toBeGreaterThan(0);
    await waitFor(() => logged(/^backfill drained: /)[0], 30_000, 'the backfill drained');
    expect(fx.fake.pushes().filter((p) => p.accepted).length).toBeGreaterThanOrEqual(40);
    // One line when it started and one when it drained: not one per sample (every 2 s).
    expect(logged(/^backfill: /).length).toBeLessThanOrEqual(2);
    const metrics = (await fx.pipeline?.metrics.registry.metrics()) ?? '';
    expect(metrics).toMatch(/^approval_cdc_backfill_remaining_instances 0$/m);
    expect(metrics).toMatch(/^approval_cdc_backfill_eta_seconds 0$/m);
    expect(metrics).toMatch(/^approval_cdc_backfill_instances_per_second [1-9][\d.]*$/m);
  });

  it('logs the first of 30 instances parked for one cause, then one summary with the count', async () => {
    await waitFor(
      async () =>
        Number(
          (await fx.state.query(`select count(*) from approval_cdc.instance where parked_at is not null`))
            .rows[0]?.count,
        ) === 30,
      20_000,
      '30 parked instances',
    );
    expect(logged(/^instance parked: /)).toHaveLength(1);
    await fx.stopPipeline();
    const summaries = logged(/^… and \d+ more like "instance parked: /);
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({ suppressed: 29 });
  });
});
