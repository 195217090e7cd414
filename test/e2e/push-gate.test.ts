import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { gatherStatus } from '../../src/ops/status-report.js';
import { openStateDb } from '../../src/replica/state-db.js';
import {
  startConnectorFixture,
  waitFor,
  waitForConvergence,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

const request = (id: number, applicant: number) =>
  `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at) values (${id}, 1, 'R${id}', ${applicant}, 1, '2026-11-20 09:00:00', '2026-11-20 09:00:00')`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

async function readyz(fx: ConnectorFixture): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${fx.pipeline?.healthPort}/readyz`);
  return { status: res.status, body: await res.json() };
}

describe('pushing stops only on a definitive answer, loudly, and heals by itself', () => {
  let fx: ConnectorFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('keeps pushing after one HTTP 401 and one HTTP 404 without a Feishu code', async () => {
    fx = await startConnectorFixture();
    await seedUsers(fx.sql);
    fx.fake.faults.set({ failNext: { count: 1, status: 401 } });
    await fx.sql.query(request(1, 1));
    await waitFor(() => fx?.fake.pushes().some((p) => p.httpStatus === 401), 20_000, 'the 401');
    fx.fake.faults.set({ failNext: { count: 1, status: 404 } });
    await fx.sql.query(request(2, 2));
    await waitFor(() => fx?.fake.pushes().some((p) => p.httpStatus === 404), 20_000, 'the 404');
    await fx.sql.query(request(3, 3));
    await waitForConvergence(fx, 30_000);
    expect(fx.pipeline?.sync?.stoppedReason).toBeNull();
  });

  it('stops when the secret is rotated under it, shows it in status, /readyz and a metric, and resumes by itself once the secret is valid', async () => {
    fx = await startConnectorFixture({
      settings: { stopProbeIntervalMs: 300, metricsAddress: `127.0.0.1:${await freePort()}` },
    });
    const f = fx;
    await seedUsers(f.sql);
    await f.sql.query(request(1, 1));
    await waitForConvergence(f, 30_000);
    const validSecret = f.fake.appSecret;
    // The secret is rotated in the developer console (the connector still holds the old one) and the
    // tokens issued for the old one end: the next token request is refused with 10015.
    f.fake.setAppSecret('the-rotated-secret');
    f.fake.faults.expireTokens();
    await f.sql.query(`${request(2, 2)}; ${request(3, 3)}`);
    await waitFor(() => f.pipeline?.sync?.stoppedReason, 20_000, 'pushing to stop');
    const ready = await readyz(f);
    expect(ready.status).toBe(503);
    expect(String(ready.body.checks.feishu)).toMatch(/pushing stopped since .*10015/);
    const metrics = await fetch(`http://127.0.0.1:${f.pipeline?.healthPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/approval_cdc_pushing_stopped\{code="10015"\} 1/);
    const state = openStateDb(f.stateUrl, f.settings.stateSchema, { max: 1 });
    try {
      const report = await waitFor(
        async () => {
          const r = await gatherStatus({
            state: { db: state.db, schema: f.settings.stateSchema },
            source: { error: 'not read' },
            slot: f.settings.slotName,
          });
          return r.pushing?.state === 'stopped' ? r : null;
        },
        10_000,
        'status to show the stop',
      );
      expect(report.pushing?.code).toBe('10015');
      expect(report.pushing?.since).not.toBeNull();
      // The probes keep failing while the secret is wrong: nothing reaches Feishu.
      const tokenRequests = f.fake.counters.tokenRequests;
      await waitFor(() => f.fake.counters.tokenRequests >= tokenRequests + 2, 20_000, 'probes');
      expect(f.fake.instance('oa-req-2')).toBeUndefined();
      expect(f.fake.instance('oa-req-3')).toBeUndefined();

      f.fake.setAppSecret(validSecret);
      await waitForConvergence(f, 30_000);
      expect(f.pipeline?.sync?.stoppedReason).toBeNull();
      expect((await readyz(f)).status).toBe(200);
      const after = await gatherStatus({
        state: { db: state.db, schema: f.settings.stateSchema },
        source: { error: 'not read' },
        slot: f.settings.slotName,
      });
      expect(after.pushing?.state).toBe('running');
      const healed = await fetch(`http://127.0.0.1:${f.pipeline?.healthPort}/metrics`).then((r) => r.text());
      expect(healed).not.toMatch(/approval_cdc_pushing_stopped\{code="10015"\} 1/);
    } finally {
      await state.close();
    }
  });
});
