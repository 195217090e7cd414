// Two connectors on one slot (APPROVAL_CDC_STANDBY=true), as child processes: one streams and pushes,
// the other waits on the active lock and says so in /metrics and /readyz; when the active one is
// killed, the standby takes over and a change made after the kill reaches Feishu.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startConnectorFixture,
  waitFor,
  type ConnectorFixture,
  settingsEnv,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { freePort } from '../support/throwaway-postgres.js';
import { sampleValue, scrapeMetrics } from '../support/prometheus-text.js';
import { cliEntry } from '../support/cli-entry.js';

/** The bundled CLI (test/support/cli-entry.ts): the same commands, a third of tsx's start-up CPU. */
const BIN = cliEntry();

interface Connector {
  child: ChildProcess;
  url: string;
}

describe('a standby connector on the same slot', () => {
  let fx: ConnectorFixture;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    fx = await startConnectorFixture({ noPipeline: true });
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(
      children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, 'exit')),
    );
    await fx?.close();
  });

  const startConnector = async (): Promise<Connector> => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'run'], {
      env: {
        ...settingsEnv(fx.settings),
        APPROVAL_CDC_METRICS_ADDRESS: `127.0.0.1:${port}`,
        APPROVAL_CDC_MIN_PUSH_INTERVAL_MS: '0',
        APPROVAL_CDC_BATCH_MAX_WAIT_MS: '5',
        APPROVAL_CDC_STATUS_INTERVAL_MS: '200',
        APPROVAL_CDC_HEARTBEAT_INTERVAL_MS: '500',
        APPROVAL_CDC_STANDBY: 'true',
        APPROVAL_CDC_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return { child, url: `http://127.0.0.1:${port}` };
  };

  const leader = async (c: Connector) => sampleValue(await scrapeMetrics(c.url), 'approval_cdc_leader');
  const streaming = async (c: Connector) => sampleValue(await scrapeMetrics(c.url), 'approval_cdc_streaming');
  const readyStatus = async (c: Connector) => (await fetch(`${c.url}/readyz`)).status;

  const insertRequest = async (id: number) => {
    await fx.sql.query(
      `begin;
       insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, submitted_at, updated_at)
         values (${id}, 1, 'Request ${id}', 1, 1, 10, localtimestamp, localtimestamp);
       insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
         values (${id}, ${id}, 1, 'Manager', 2, 0, localtimestamp, localtimestamp);
       commit;`,
    );
  };

  it('waits while the active one runs, then takes over after it is killed and pushes what changed since', async () => {
    const active = await startConnector();
    await waitFor(
      async () => (await leader(active)) === 1 && (await streaming(active)) === 1,
      30_000,
      'the first connector to stream',
    );
    await insertRequest(1);
    await waitFor(
      () => fx.fake.instance('oa-req-1'),
      20_000,
      'oa-req-1 in Feishu through the active connector',
    );

    const standby = await startConnector();
    // Its health server answers before it holds the lock: it stands by and says so.
    await waitFor(
      async () => (await leader(standby)) === 0,
      30_000,
      'the standby to serve /metrics with leader 0',
    );
    expect(await readyStatus(standby)).toBe(503);
    expect(await streaming(standby)).toBe(0);
    expect(await leader(active)).toBe(1);

    active.child.kill('SIGKILL');
    await new Promise((r) => active.child.once('exit', r));
    await insertRequest(2);

    await waitFor(async () => (await leader(standby)) === 1, 15_000, 'the standby to take the lock');
    await waitFor(
      async () => (await streaming(standby)) === 1 && (await readyStatus(standby)) === 200,
      30_000,
      'the standby to stream',
    );
    const taken = await waitFor(
      () => fx.fake.instance('oa-req-2'),
      20_000,
      'oa-req-2 in Feishu through the standby',
    );
    expect(taken.status).toBe('PENDING');
    expect(fx.fake.instance('oa-req-1')?.status).toBe('PENDING');
  }, 120_000);
});
