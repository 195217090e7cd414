import { describe, expect, it } from 'vitest';
import { CdcError, type FeishuErrorDetails } from '../../src/errors.js';
import { CircuitBreaker, isOutage } from '../../src/sync/circuit-breaker.js';

describe('circuit breaker', () => {
  it('opens after consecutive outage failures, then lets one probe out per interval until Feishu answers', () => {
    let now = 0;
    const b = new CircuitBreaker({ failures: 3, probeIntervalMs: 1000, now: () => now });
    expect(b.outage()).toBe(false);
    expect(b.outage()).toBe(false);
    expect(b.delay()).toBe(0);
    expect(b.outage()).toBe(true);
    expect(b.open).toBe(true);
    // Over a 10 s outage, probes start at most once a second, one at a time.
    let probes = 0;
    for (now = 0; now < 10_000; now += 10) {
      if (b.delay() > 0) continue;
      expect(b.start()).toBe(true);
      probes++;
      expect(b.delay()).toBeGreaterThan(0); // in flight: no second probe
      b.outage();
    }
    expect(probes).toBeLessThanOrEqual(10);
    expect(probes).toBeGreaterThanOrEqual(9);
    // A probe Feishu answers closes it: full speed again.
    now += 1000;
    expect(b.start()).toBe(true);
    expect(b.answered()).toBe(true);
    expect(b.open).toBe(false);
    expect(b.delay()).toBe(0);
    expect(b.start()).toBe(false);
  });

  it('is reset by any answer before it opens, and a probe not sent frees the next one at once', () => {
    let now = 0;
    const b = new CircuitBreaker({ failures: 2, probeIntervalMs: 5000, now: () => now });
    b.outage();
    b.answered();
    expect(b.outage()).toBe(false);
    expect(b.outage()).toBe(true);
    now = 5000;
    const probe = b.start();
    b.unsent(probe);
    expect(b.delay()).toBe(0);
  });

  it('counts gateway errors, timeouts and resets as an outage, not verdicts on a payload', () => {
    const err = (
      code: 'FEISHU_HTTP' | 'FEISHU_TIMEOUT' | 'FEISHU_NETWORK',
      details: Partial<FeishuErrorDetails>,
    ) =>
      new CdcError(code, 'x', { details: { endpoint: '/x', disposition: 'retry', reason: 'x', ...details } });
    expect(isOutage(err('FEISHU_HTTP', { httpStatus: 503 }))).toBe(true);
    expect(isOutage(err('FEISHU_TIMEOUT', {}))).toBe(true);
    expect(isOutage(err('FEISHU_NETWORK', {}))).toBe(true);
    expect(isOutage(err('FEISHU_HTTP', { httpStatus: 400, feishuCode: 1390001 }))).toBe(false);
    expect(isOutage(err('FEISHU_HTTP', { httpStatus: 429, feishuCode: 99991400 }))).toBe(false);
    expect(isOutage(new Error('boom'))).toBe(false);
  });
});
