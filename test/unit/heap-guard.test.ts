import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { startHeapGuard } from '../../src/observe/heap-guard.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('heap guard', () => {
  it('is off at target 0', () => {
    expect(startHeapGuard(0)).toBeNull();
  });

  it('collects when the heap passes its target', async () => {
    const target = Math.max(1, Math.floor(getHeapStatistics().used_heap_size / 2 ** 20) - 1);
    const guard = startHeapGuard(target, 10);
    expect(guard).not.toBeNull();
    try {
      for (let i = 0; i < 50 && guard!.forced() === 0; i++) await sleep(20);
      expect(guard!.forced()).toBeGreaterThan(0);
    } finally {
      guard?.stop();
    }
  });

  it('does not collect in a loop when live data alone is above the target', async () => {
    const live = Array.from({ length: 64 }, (_, i) => new Array<number>(2 ** 17).fill(i + 0.5)); // 64 MB on the heap
    const guard = startHeapGuard(8, 5);
    try {
      await sleep(600);
      // About 120 checks ran; after the first collection the threshold is twice the live size.
      expect(guard!.forced()).toBeGreaterThan(0);
      expect(guard!.forced()).toBeLessThanOrEqual(3);
    } finally {
      guard?.stop();
    }
    expect(live.length).toBe(64);
  });
});
