// Feishu down with a backlog, then up: while it fails everything the circuit breaker lets only its
// probes out, so the outage neither spends the rate window nor earns the backlog long backoffs; once
// a probe is answered the backlog drains at once. Windows are scaled down (a 4 s window of 40 calls
// for Feishu's minute of 1,000, a 4 s outage for its 60 s, a probe every 0.5 s) so the test is short;
// the fake's own log is the evidence.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

const WINDOW = { perSecond: 20, perMinute: 40, minuteWindowMs: 4000 };
const OUTAGE_MS = 4000;
const PROBE_MS = 500;
const FAILURES = 3;
const CONCURRENCY = 4;
const BACKLOG = 30;

describe('a Feishu outage with a backlog', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    fx = await startConnectorFixture({
      fake: WINDOW,
      settings: {
        ratePerSecond: WINDOW.perSecond,
        ratePerMinute: WINDOW.perMinute,
        rateWindowMs: WINDOW.minuteWindowMs,
        breakerFailures: FAILURES,
        breakerProbeIntervalMs: PROBE_MS,
        syncConcurrency: CONCURRENCY,
        reconcileIntervalMs: 0,
      },
    });
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('probes at a low fixed rate while Feishu is down, then drains the backlog with no idle gap', async () => {
    // A token first, so the outage hits the pushes themselves.
    await fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
      values (1, 1, 'warm-up', 1, 1, '2026-11-20 09:00', '2026-11-20 09:00')`);
    await waitFor(() => fx.fake.instance('oa-req-1'), 20_000, 'the warm-up push');

    // A call the fake answers 503 because it is down is not in its push log: calls are counted,
    // token requests included.
    const apiCalls = () => fx.fake.counters.requests;
    fx.fake.faults.set({ down: true });
    const callsAtDown = apiCalls();
    await fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
      select g, 1, 'R' || g, 1 + g % 20, 1, '2026-11-20 09:00', '2026-11-20 09:00' from generate_series(2, ${BACKLOG + 1}) g`);
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const duringOutage = apiCalls() - callsAtDown;
    fx.fake.faults.set({ down: false });
    const upAt = Date.now();
    await waitFor(
      () => fx.fake.pushes().filter((p) => p.accepted && p.at >= upAt).length >= BACKLOG,
      30_000,
      'the backlog to drain',
    );

    const pushes = fx.fake.pushes();
    // During the outage: the calls before the breaker opened (at most the failures that open it
    // plus those already in flight), then one probe per interval.
    expect(duringOutage).toBeLessThanOrEqual(FAILURES + CONCURRENCY + Math.ceil(OUTAGE_MS / PROBE_MS) + 1);
    expect(fx.fake.counters.tooManyRequests).toBe(0);
    // After it: the first probe is answered within a probe interval, and the backlog follows
    // without waiting for a window the outage spent or for backoffs it earned.
    const accepted = pushes.filter((p) => p.accepted && p.at >= upAt).map((p) => p.at);
    const gaps = accepted.map((t, i) => t - (i === 0 ? upAt : (accepted[i - 1] as number)));
    expect(Math.max(...gaps)).toBeLessThanOrEqual(PROBE_MS + 1500);
  });
});
