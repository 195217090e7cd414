import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogThrottle, reasonClass } from '../../src/core/log-throttle.js';
import { recordingLogger as recorder } from '../support/recording-logger.js';

describe('log throttle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('turns 150 instances parked for 2 causes in 5 s into 2 lines, then one summary per cause', () => {
    const { logger, lines } = recorder();
    const throttle = new LogThrottle(logger, { windowMs: 60_000 });
    for (let i = 0; i < 150; i++) {
      const reason =
        i % 2 === 0
          ? `form value of field 'amount' is ${70_000 + i} characters (limit 65536)`
          : 'approval code APPROVAL_X is not defined in Feishu';
      const code = i % 2 === 0 ? 'PAYLOAD_LIMIT' : '1390001';
      throttle.error({ code, reason }, { instance: `req-${i}`, code }, `instance parked: ${reason}`);
      vi.advanceTimersByTime(33);
    }
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => l.fields.instance)).toEqual(['req-0', 'req-1']);

    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(4);
    const summaries = lines.slice(2);
    expect(summaries.map((l) => l.fields.suppressed)).toEqual([74, 74]);
    expect(summaries[0]?.message).toMatch(
      /^… and 74 more like "instance parked: form value.*" \(PAYLOAD_LIMIT\) in the last 60 s$/,
    );
    expect(summaries.every((l) => l.level === 'error')).toBe(true);
  });

  it('logs the first of a kind again at once once its window has passed', () => {
    const { logger, lines } = recorder();
    const throttle = new LogThrottle(logger, { windowMs: 10_000 });
    const kind = { code: 'TIMEOUT', reason: 'request timed out after 5000 ms' };
    throttle.warn(kind, { instance: 'a' }, 'push failed, will retry');
    vi.advanceTimersByTime(11_000);
    throttle.warn(kind, { instance: 'b' }, 'push failed, will retry');
    expect(lines.map((l) => l.fields.instance)).toEqual(['a', 'b']);
  });

  it('writes no summary for a kind that happened once', () => {
    const { logger, lines } = recorder();
    const throttle = new LogThrottle(logger, { windowMs: 1000 });
    throttle.warn({ code: 'X', reason: 'r' }, {}, 'once');
    vi.advanceTimersByTime(5000);
    throttle.flush();
    expect(lines.map((l) => l.message)).toEqual(['once']);
  });

  it('writes the held-back counts at flush, before the window ends (a stop loses no count)', () => {
    const { logger, lines } = recorder();
    const throttle = new LogThrottle(logger, { windowMs: 60_000 });
    for (let i = 0; i < 3; i++) throttle.warn({ code: 'X', reason: `row ${i}` }, {}, 'retrying');
    throttle.flush();
    expect(lines.map((l) => l.message)).toEqual([
      'retrying',
      '… and 2 more like "retrying" (X) in the last 60 s',
    ]);
    vi.advanceTimersByTime(120_000);
    expect(lines).toHaveLength(2);
  });

  it('keeps different codes and different reasons apart, and one reason with different numbers together', () => {
    expect(reasonClass('value 70123 too long')).toBe(reasonClass('value 70456 too long'));
    expect(reasonClass("field 'amount' too long")).not.toBe(reasonClass("field 'title' too long"));
    const { logger, lines } = recorder();
    const throttle = new LogThrottle(logger);
    throttle.warn({ code: 'A', reason: 'same' }, {}, 'one');
    throttle.warn({ code: 'B', reason: 'same' }, {}, 'two');
    throttle.warn({ code: 'A', reason: 'other' }, {}, 'three');
    expect(lines).toHaveLength(3);
    throttle.flush();
  });
});
