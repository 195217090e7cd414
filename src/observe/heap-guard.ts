// Owns the daemon's heap size. V8 collects the old generation only when it has grown to a multiple of
// what survived the last collection: under a sustained backlog the connector keeps ~40 MB alive but
// its heap swings up to ~200 MB of garbage, and the container's memory limit sees the swing. The
// guard forces a full collection whenever the heap passes a target, so the process stays near the
// target without a hard cap (a hard cap turns a burst of large rows into an out-of-memory crash loop;
// past the target the guard only collects more often). Invariant: it never throws, and it stops
// trying (logging once) if the runtime refuses to expose the collector.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface HeapGuard {
  /** Full collections the guard forced. */
  readonly forced: () => number;
  stop(): void;
}

function exposeGc(): (() => void) | null {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    // The flag exposes `gc` to contexts created after it is set: a fresh one hands it over.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/**
 * Checks the heap every `intervalMs` and collects when the bytes in use (live and garbage) pass
 * `targetMb`. After a collection the threshold is twice what survived, at least the target, so live
 * data above the target makes the guard collect less often, never in a loop.
 */
export function startHeapGuard(targetMb: number, intervalMs = 100): HeapGuard | null {
  if (targetMb <= 0) return null;
  const gc = exposeGc();
  if (!gc) return null;
  const target = targetMb * 2 ** 20;
  let threshold = target;
  let forced = 0;
  const timer = setInterval(() => {
    if (getHeapStatistics().used_heap_size < threshold) return;
    gc();
    forced++;
    const live = getHeapStatistics().used_heap_size;
    threshold = Math.max(target, live * 2);
  }, intervalMs);
  timer.unref();
  return {
    forced: () => forced,
    stop: () => clearInterval(timer),
  };
}
