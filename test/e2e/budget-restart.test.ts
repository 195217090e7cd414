// The rate budget survives a restart and a standby takeover: the fake Feishu (one server that
// outlives the connectors, enforcing its windows per app) counts the previous process's calls, and
// the next process, reading the durable ledger, does not provoke a single 429. Windows are scaled
// down (a 15 s or 30 s window instead of the minute) so the test takes seconds, not minutes.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import {
  settingsEnv,
  startConnectorFixture,
  waitFor,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { sampleValue, scrapeMetrics } from '../support/prometheus-text.js';
import { freePort } from '../support/throwaway-postgres.js';
import { cliEntry } from '../support/cli-entry.js';

/** The bundled CLI (test/support/cli-entry.ts): the same commands, a third of tsx's start-up CPU. */
const BIN = cliEntry();
// A takeover is quick (the standby has started already); a restarted process boots for up to
// ~12 s on a busy machine, so its window is longer than that.
const TAKEOVER = { perSecond: 15, perMinute: 45, minuteWindowMs: 15_000 };
const RESTART = { perSecond: 20, perMinute: 60, minuteWindowMs: 30_000 };
type Window = typeof TAKEOVER;

describe('the rate budget across processes', () => {
  let fx: ConnectorFixture | undefined;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(
      children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, 'exit')),
    );
    children.length = 0;
    await fx?.close();
  });

  const setup = async (window: Window) => {
    fx = await startConnectorFixture({
      noPipeline: true,
      fake: window,
      settings: {
        ratePerSecond: window.perSecond,
        ratePerMinute: window.perMinute,
        rateWindowMs: window.minuteWindowMs,
        requestTimeoutMs: 2000,
        reconcileIntervalMs: 0,
        // The backlog is one transaction of 150 instances: kept in the live lane, which spends a
        // window in a burst (the bulk lane would be paced over it, the easier case).
        bulkThreshold: 1000,
      },
    });
    await seedUsers(fx.sql);
    return fx;
  };

  const start = async (f: ConnectorFixture) => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'run'], {
      env: {
        ...settingsEnv(f.settings),
        APPROVAL_CDC_METRICS_ADDRESS: `127.0.0.1:${port}`,
        APPROVAL_CDC_STANDBY: 'true',
        APPROVAL_CDC_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    const metric = async (name: string) => sampleValue(await scrapeMetrics(`http://127.0.0.1:${port}`), name);
    return { child, metric };
  };

  const accepted = (f: ConnectorFixture) => f.fake.counters.pushesAccepted;

  /** Requests written while a connector streams: a live backlog larger than a window's budget. */
  const backlog = (f: ConnectorFixture) =>
    f.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
      select g, 1, 'R' || g, 1 + g % 20, 1, '2026-11-20 09:00', '2026-11-20 09:00' from generate_series(1, 150) g`);

  const killWhenWindowFull = async (f: ConnectorFixture, child: ChildProcess, window: Window) => {
    await waitFor(() => accepted(f) >= window.perMinute, 90_000, 'the first process to fill the window');
    child.kill('SIGKILL');
    await once(child, 'exit');
    return accepted(f);
  };

  it('sends no call Feishu refuses after a kill and restart under a full budget', async () => {
    const f = await setup(RESTART);
    const first = await start(f);
    await waitFor(async () => (await first.metric('approval_cdc_streaming')) === 1, 90_000, 'streaming');
    await backlog(f);
    const atKill = await killWhenWindowFull(f, first.child, RESTART);
    await start(f);
    await waitFor(() => accepted(f) >= atKill + 20, 90_000, 'the restarted process to push');
    expect(f.fake.counters.tooManyRequests).toBe(0);
  }, 300_000);

  it('sends no call Feishu refuses after a standby takes over under a full budget', async () => {
    const f = await setup(TAKEOVER);
    const active = await start(f);
    await waitFor(async () => (await active.metric('approval_cdc_streaming')) === 1, 90_000, 'streaming');
    const standby = await start(f);
    await waitFor(async () => (await standby.metric('approval_cdc_leader')) === 0, 90_000, 'the standby');
    await backlog(f);
    const atKill = await killWhenWindowFull(f, active.child, TAKEOVER);
    await waitFor(() => accepted(f) >= atKill + 20, 90_000, 'the standby to push');
    expect(f.fake.counters.tooManyRequests).toBe(0);
  }, 300_000);
});
