import { describe, expect, it } from 'vitest';
import { RateBudget } from '../../src/sync/rate-budget.js';

/** A budget on a virtual clock: sleeping advances time instantly. */
function virtualBudget(perSecond: number, perMinute: number) {
  let now = 0;
  const budget = new RateBudget({
    perSecond,
    perMinute,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
  });
  return { budget, now: () => now };
}

describe('rate budget', () => {
  it('never starts more than perSecond calls within any one second', async () => {
    const { budget, now } = virtualBudget(50, 100_000);
    const starts: number[] = [];
    for (let i = 0; i < 500; i++) {
      const ticket = await budget.acquire();
      starts.push(now());
      ticket.release();
    }
    for (let i = 50; i < starts.length; i++)
      expect((starts[i] as number) - (starts[i - 50] as number)).toBeGreaterThanOrEqual(1000);
  });

  it('never starts more than perMinute calls within any 60 s, and spends the whole minute budget', async () => {
    const { budget, now } = virtualBudget(50, 1000);
    const starts: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const ticket = await budget.acquire();
      starts.push(now());
      ticket.release();
    }
    for (let i = 1000; i < starts.length; i++)
      expect((starts[i] as number) - (starts[i - 1000] as number)).toBeGreaterThanOrEqual(60_000);
    // Each minute: 1000 calls in 20 s at 50/s, then wait for the window. The third thousand starts
    // at 120 s and ends by 140 s: the limiter never waits longer than the windows require.
    expect(now()).toBeGreaterThanOrEqual(120_000);
    expect(now()).toBeLessThan(140_000);
  });

  it('holds every caller while the server says the window is exhausted', async () => {
    const { budget, now } = virtualBudget(50, 1000);
    (await budget.acquire()).release();
    budget.pause(7000);
    (await budget.acquire()).release();
    expect(now()).toBeGreaterThanOrEqual(7000);
  });

  it('keeps a slow call in the window until a full window after it completes', async () => {
    // A call granted at 0 that completes at 900 may arrive at Feishu at 899; a call granted at 1000
    // and arriving at 1001 would share Feishu's window with it. So the next grant waits until 1900.
    let clock = 0;
    const b = new RateBudget({
      perSecond: 1,
      perMinute: 100,
      now: () => clock,
      sleep: async (ms) => void (clock += ms),
    });
    const ticket = await b.acquire();
    clock = 900;
    ticket.release();
    await b.acquire();
    expect(clock).toBeGreaterThanOrEqual(1900);
  });

  it('counts a call still in flight against both windows', async () => {
    let clock = 0;
    const b = new RateBudget({
      perSecond: 1,
      perMinute: 100,
      now: () => clock,
      sleep: async (ms) => void (clock += ms),
    });
    const first = await b.acquire();
    const second = b.acquire();
    let granted = false;
    void second.then(() => (granted = true));
    for (let i = 0; i < 50; i++) await Promise.resolve();
    clock = 5000;
    for (let i = 0; i < 50; i++) await Promise.resolve();
    // Still in flight after 5 s of fake time: the second call has not been granted on the old grant time.
    first.release();
    await second;
    expect(granted).toBe(true);
    expect(clock).toBeGreaterThanOrEqual(6000);
  });

  it('gives a cancelled unit back at once', async () => {
    const { budget, now } = virtualBudget(1, 100);
    (await budget.acquire()).cancel();
    (await budget.acquire()).release();
    expect(now()).toBe(0);
  });

  it('stops waiting when its signal aborts', async () => {
    const { budget } = virtualBudget(1, 1);
    (await budget.acquire()).release();
    const controller = new AbortController();
    controller.abort();
    await expect(budget.acquire(controller.signal)).rejects.toThrow(/aborted/);
  });

  it('counts what was used in the last minute', async () => {
    const { budget } = virtualBudget(50, 1000);
    for (let i = 0; i < 10; i++) (await budget.acquire()).release();
    expect(budget.usedLastMinute()).toBe(10);
  });
});
