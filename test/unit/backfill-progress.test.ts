import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/logger.js';
import { backfillProgress, describeBackfillProgress } from '../../src/observe/backfill-progress.js';
import { BackfillReporter } from '../../src/observe/backfill-reporter.js';
import { createMetrics } from '../../src/observe/metrics.js';
import { LANE_BACKFILL, LANE_BULK, LANE_LIVE } from '../../src/replica/instance-vocabulary.js';

function recorder() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const logger = {
    info: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }),
  };
  return { logger: logger as unknown as Logger, lines };
}

async function gauge(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number | undefined> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values[0] as { value: number } | undefined)?.value;
}

describe('backfill progress', () => {
  it('gives instances left, the measured rate and the time left at that rate', () => {
    const r = backfillProgress({
      bulk: 5,
      backfill: 398_700,
      drained: 990,
      windowSeconds: 60,
      budgetPerMinute: 1000,
    });
    expect(r.remaining).toBe(398_705);
    expect(r.perSecond).toBeCloseTo(16.5);
    expect(r.basis).toBe('measured');
    expect(r.etaSeconds).toBeCloseTo(398_705 / 16.5);
    expect(describeBackfillProgress(r)).toBe(
      '398,705 instances left (bulk 5, backfill 398,700), 17 instances/s, ETA 6 h 42 min',
    );
  });

  it('falls back to the per-minute budget, and says so, when nothing left the lanes in the window', () => {
    const r = backfillProgress({
      bulk: 0,
      backfill: 6000,
      drained: 0,
      windowSeconds: 300,
      budgetPerMinute: 1000,
    });
    expect(r.basis).toBe('budget');
    expect(r.etaSeconds).toBe(360);
    expect(describeBackfillProgress(r, 1000)).toContain('ETA 6 min 00 s at the budget of 1,000/min');
  });

  it('is done (0 left, ETA 0) when the lanes are empty', () => {
    const r = backfillProgress({
      bulk: 0,
      backfill: 0,
      drained: 40,
      windowSeconds: 60,
      budgetPerMinute: 1000,
    });
    expect(r).toMatchObject({ remaining: 0, etaSeconds: 0 });
  });
});

describe('backfill reporter', () => {
  it('logs one line when the backfill starts, one per 30 s while it drains (not one per sample), and one when it is done', async () => {
    let now = 1_000_000;
    const { logger, lines } = recorder();
    const metrics = createMetrics();
    const reporter = new BackfillReporter({ metrics, logger, budgetPerMinute: 600, now: () => now });
    let left = 1200;
    // Two minutes of samples every 2 s, 10 instances leaving per second.
    for (let t = 0; t < 120; t += 2) {
      for (let i = 0; i < 20 && left > 0; i++, left--) reporter.noteOutcome(LANE_BACKFILL, 'accepted');
      reporter.noteOutcome(LANE_BACKFILL, 'retry');
      reporter.noteOutcome(LANE_LIVE, 'accepted');
      now += 2000;
      reporter.update(0, left);
    }
    const progress = lines.filter((l) => l.message.startsWith('backfill: '));
    expect(progress).toHaveLength(4);
    expect(progress[0]?.message).toMatch(
      /^backfill: 1,180 instances left \(bulk 0, backfill 1,180\), 10 instances\/s, ETA 1 min 58 s$/,
    );
    expect(lines.at(-1)?.message).toMatch(/^backfill drained: 1,180 instances in 1 min 58 s$/);
    expect(await gauge(metrics, 'approval_cdc_backfill_remaining_instances')).toBe(0);
    expect(await gauge(metrics, 'approval_cdc_backfill_eta_seconds')).toBe(0);
  });

  it('exports instances left, the rate over the last minute and the time left while it drains', async () => {
    let now = 0;
    const { logger } = recorder();
    const metrics = createMetrics();
    const reporter = new BackfillReporter({ metrics, logger, budgetPerMinute: 600, now: () => now });
    now = 120_000;
    for (let i = 0; i < 300; i++) reporter.noteOutcome(LANE_BULK, i % 3 === 0 ? 'unchanged' : 'parked');
    now += 1000;
    reporter.update(100, 2900);
    expect(await gauge(metrics, 'approval_cdc_backfill_remaining_instances')).toBe(3000);
    expect(await gauge(metrics, 'approval_cdc_backfill_instances_per_second')).toBe(5);
    expect(await gauge(metrics, 'approval_cdc_backfill_eta_seconds')).toBe(600);
    // A minute later with nothing leaving: the measured rate is 0, the ETA is at the budget (10/s).
    now += 61_000;
    reporter.update(100, 2900);
    expect(await gauge(metrics, 'approval_cdc_backfill_instances_per_second')).toBe(0);
    expect(await gauge(metrics, 'approval_cdc_backfill_eta_seconds')).toBe(300);
  });
});
