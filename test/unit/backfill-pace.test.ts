import { describe, expect, it } from 'vitest';
import { BackfillPace, pacedPerWindow } from '../../src/sync/backfill-pace.js';

/** Start times of a paced lane that always has work, over `ms` of virtual time. */
function pacedStarts(pace: BackfillPace, ms: number): number[] {
  let now = 0;
  const starts: number[] = [];
  while (now < ms) {
    const wait = pace.delay(now);
    if (wait > 0) {
      now += wait;
      continue;
    }
    pace.take(now);
    starts.push(now);
  }
  return starts;
}

describe('backfill pace', () => {
  it('spreads the minute budget over the minute: a few starts at a time, never a burst', () => {
    const starts = pacedStarts(new BackfillPace(1000), 60_000);
    // 4 every ~0.25 s: never near the per-second limit (50).
    for (let i = 4; i < starts.length; i++)
      expect((starts[i] as number) - (starts[i - 4] as number)).toBeGreaterThanOrEqual(248);
    // The minute's budget takes the minute, not 20 s at 50/s.
    expect(starts.length).toBeGreaterThan(960);
  });

  it('leaves 30 of every minute 1,000 calls to live changes, and takes the other 970', () => {
    expect(pacedPerWindow(1000)).toBe(970);
    const starts = pacedStarts(new BackfillPace(1000), 180_000);
    // In any 60 s window, the lanes below live start at most 970 pushes: a live change always finds
    // one of the other 30 units free while fewer than 30 arrived in the last minute.
    let most = 0;
    let first = 0;
    for (let i = 0; i < starts.length; i++) {
      while ((starts[i] as number) - (starts[first] as number) >= 60_000) first++;
      most = Math.max(most, i - first + 1);
    }
    expect(most).toBeLessThanOrEqual(970);
    // ... and still drain at the rest of the budget (three minutes, 2,910 at most).
    expect(starts.length).toBeGreaterThanOrEqual(2880);
  });

  it('does not pace at all without a limit', () => {
    const pace = new BackfillPace(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 10_000; i++) pace.take(0);
    expect(pace.delay(0)).toBe(0);
  });
});
