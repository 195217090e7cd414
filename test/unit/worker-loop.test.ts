import { describe, expect, it } from 'vitest';
import { WorkerLoop, settleWithin } from '../../src/core/worker-loop.js';

describe('WorkerLoop', () => {
  it('keeps a wake that comes while no round sleeps for the next sleep', async () => {
    const loop = new WorkerLoop();
    loop.wake();
    // A 60 s sleep would time the test out: the pending wake ends it at once.
    await loop.idle(60_000);
    let ended = false;
    const sleep = loop.idle(60_000).then(() => (ended = true));
    await Promise.resolve();
    expect(ended).toBe(false);
    loop.wake();
    await sleep;
    expect(ended).toBe(true);
  });

  it('reports a failed round and goes on with the next one until stopped', async () => {
    const loop = new WorkerLoop();
    const failures: unknown[] = [];
    let rounds = 0;
    let running = true;
    await loop.run(
      () => running,
      async () => {
        rounds++;
        if (rounds === 1) {
          loop.wake(); // the second's pause after the failure ends at once
          throw new Error('round 1');
        }
        running = false;
      },
      (error) => failures.push(error),
    );
    expect(rounds).toBe(2);
    expect(failures.map((e) => (e as Error).message)).toEqual(['round 1']);
  });

  it('stops a started loop sleeping in a long idle at once, after its round has ended', async () => {
    const loop = new WorkerLoop();
    let rounds = 0;
    loop.start(
      async () => {
        rounds++;
        await loop.idle(60_000);
      },
      () => undefined,
    );
    loop.start(
      () => Promise.reject(new Error('a second start must not run another loop')),
      () => undefined,
    );
    expect(loop.running).toBe(true);
    await loop.stop();
    expect(loop.running).toBe(false);
    expect(rounds).toBe(1);
  });
});

describe('settleWithin', () => {
  it('returns when the tasks are done, long before the grace', async () => {
    let done = false;
    const task = new Promise<void>((resolve) => setTimeout(resolve, 5)).then(() => (done = true));
    // A 60 s grace would time the test out if it were waited for.
    await settleWithin([task], 60_000);
    expect(done).toBe(true);
  });

  it('gives up on a task that never ends once the grace is over', async () => {
    await settleWithin([new Promise(() => undefined)], 10);
  });
});
