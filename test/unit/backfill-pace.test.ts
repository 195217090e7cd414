import { describe, expect, it } from 'vitest';
import { BackfillPace } from '../../src/sync/backfill-pace.js';

describe('backfill pace', () => {
  it('spreads the minute budget over the minute: perMinute/30 starts in any two seconds', () => {
    const pace = new BackfillPace(1000);
    let now = 0;
    const starts: number[] = [];
    while (starts.length < 1000) {
      const wait = pace.delay(now);
      if (wait > 0) {
        now += wait;
        continue;
      }
      pace.take(now);
      starts.push(now);
    }
    for (let i = 33; i < starts.length; i++)
      expect((starts[i] as number) - (starts[i - 33] as number)).toBeGreaterThanOrEqual(2000);
    // 1000 starts take about a minute, not 20 s at 50/s.
    expect(starts[999]).toBeGreaterThan(58_000);
    expect(starts[999]).toBeLessThan(62_000);
  });
  it('does not pace at all without a limit', () => {
    const pace = new BackfillPace(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 10_000; i++) pace.take(0);
    expect(pace.delay(0)).toBe(0);
  });
});
