import { describe, expect, it } from 'vitest';
import { CdcError } from '../../src/errors.js';
import { monthBounds, monthKey, paceDelayMs, projectedCalls } from '../../src/sync/monthly-calls.js';
import { DEFAULT_RETRY_POLICY, nextStep } from '../../src/sync/retry-policy.js';
import { quotaPauseReason } from '../../src/sync/sync-scheduler.js';

// 2026-12-31 20:00 in China is 12:00 UTC: already December's last evening there.
const LAST_EVENING = Date.UTC(2026, 11, 31, 12, 0, 0);
const NEW_YEAR_CHINA = Date.UTC(2026, 11, 31, 16, 0, 0);

describe('the monthly quota month (China time)', () => {
  it('turns the month at midnight China time, not UTC', () => {
    expect(monthKey(LAST_EVENING)).toBe('2026-12');
    expect(monthKey(NEW_YEAR_CHINA)).toBe('2027-01');
    expect(monthBounds(LAST_EVENING).renewal).toBe(NEW_YEAR_CHINA);
    expect(quotaPauseReason('quota used up', LAST_EVENING, 3_600_000)).toContain(
      'renews (2027-01-01, China time)',
    );
  });

  it('projects the use to the end of the month at the rate so far', () => {
    const { start, renewal } = monthBounds(LAST_EVENING);
    const half = start + (renewal - start) / 2;
    expect(projectedCalls(5000, half)).toBe(10_000);
  });

  it('spreads the calls left over the time left, and waits for the renewal once the budget is spent', () => {
    const { renewal } = monthBounds(LAST_EVENING);
    const left = renewal - LAST_EVENING; // 4 h
    expect(paceDelayMs(0, 50, LAST_EVENING, LAST_EVENING)).toBe(0);
    expect(paceDelayMs(10_000, 9_996, LAST_EVENING, LAST_EVENING)).toBe(left / 4);
    expect(paceDelayMs(10_000, 9_996, LAST_EVENING - left, LAST_EVENING)).toBe(0);
    expect(paceDelayMs(10_000, 10_000, 0, LAST_EVENING)).toBe(left);
  });

  it('pauses on the quota codes instead of retrying them like the rate limit', () => {
    const quota = new CdcError('FEISHU_QUOTA', 'quota', {
      details: { endpoint: '/x', disposition: 'quota', reason: 'quota' },
    });
    expect(nextStep(quota, 1, DEFAULT_RETRY_POLICY, 0.5).action).toBe('pause');
    const rate = new CdcError('FEISHU_RATE_LIMITED', 'rate', {
      details: { endpoint: '/x', disposition: 'retry', reason: 'rate' },
    });
    expect(nextStep(rate, 1, DEFAULT_RETRY_POLICY, 0.5).action).toBe('retry');
  });
});
