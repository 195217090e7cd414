// Owns the demo's live view: samples the connector's own metrics once a second and turns them into
// figures (rates and latency quantiles over sliding windows) and text, a full screen for a terminal or
// one summary line otherwise. Invariant: it only reads metrics and the fake's counts; it never changes
// the connector, and the figures it prints are the ones /metrics serves.
import type { Metrics } from '../observe/metrics.js';

/** One reading of the cumulative counters the view derives rates from. */
interface Sample {
  atMs: number;
  changesApplied: number;
  pushesAccepted: number;
  /** Cumulative live-lane commit-to-accept histogram: upper bound (Infinity for +Inf) -> count. */
  liveBuckets: Map<number, number>;
}

export interface DemoFigures {
  elapsedSeconds: number;
  streaming: boolean;
  slotLagBytes: number;
  secondsSinceLastCommit: number;
  changesApplied: number;
  changesPerSecond: number;
  pushesAccepted: number;
  pushesLastMinute: number;
  budgetUsedLastMinute: number;
  budgetPerMinute: number;
  backlogLive: number;
  backlogBulk: number;
  backlogBackfill: number;
  parked: number;
  inFlight: number;
  /** Commit-to-accept of live-lane pushes over the last minute, from the histogram; null without data. */
  commitToAcceptP50: number | null;
  commitToAcceptP99: number | null;
  instancesInFeishu: number;
}

const RATE_WINDOW_MS = 5_000;
const MINUTE_MS = 60_000;

export class DemoView {
  private readonly samples: Sample[] = [];
  private readonly startedAtMs: number;

  constructor(
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAtMs = now();
  }

  /** Takes a sample and returns the figures it gives with the samples before it. */
  async sample(extra: { streaming: boolean; instancesInFeishu: number }): Promise<DemoFigures> {
    const m = this.metrics;
    const current: Sample = {
      atMs: this.now(),
      changesApplied: await total(m.changesApplied),
      pushesAccepted: await total(m.pushes, (l) => l.result === 'accepted'),
      liveBuckets: await buckets(m.commitToAccept, 'live'),
    };
    this.samples.push(current);
    while (this.samples.length > 2 && (this.samples[1]?.atMs ?? Infinity) <= current.atMs - MINUTE_MS)
      this.samples.shift();
    const rateBase = this.oldestWithin(RATE_WINDOW_MS);
    const minuteBase = this.oldestWithin(MINUTE_MS);
    const dt = (current.atMs - rateBase.atMs) / 1000;
    const window = subtractBuckets(
      current.liveBuckets,
      minuteBase === current ? new Map<number, number>() : minuteBase.liveBuckets,
    );
    return {
      elapsedSeconds: (current.atMs - this.startedAtMs) / 1000,
      streaming: extra.streaming,
      slotLagBytes: await total(m.slotLagBytes),
      secondsSinceLastCommit: await total(m.secondsSinceCommit),
      changesApplied: current.changesApplied,
      changesPerSecond: dt > 0 ? (current.changesApplied - rateBase.changesApplied) / dt : 0,
      pushesAccepted: current.pushesAccepted,
      pushesLastMinute: current.pushesAccepted - (minuteBase === current ? 0 : minuteBase.pushesAccepted),
      budgetUsedLastMinute: await total(m.budgetUsed),
      budgetPerMinute: await total(m.budgetLimit),
      backlogLive: await total(m.backlog, (l) => l.lane === 'live'),
      backlogBulk: await total(m.backlog, (l) => l.lane === 'bulk'),
      backlogBackfill: await total(m.backlog, (l) => l.lane === 'backfill'),
      parked: await total(m.parked),
      inFlight: await total(m.inFlight),
      commitToAcceptP50: quantileFromBuckets(window, 0.5),
      commitToAcceptP99: quantileFromBuckets(window, 0.99),
      instancesInFeishu: extra.instancesInFeishu,
    };
  }

  /** The oldest sample not older than `ms` (the first sample while the demo is younger than that). */
  private oldestWithin(ms: number): Sample {
    const last = this.samples[this.samples.length - 1] as Sample;
    return this.samples.find((s) => s.atMs >= last.atMs - ms) ?? last;
  }
}

type Labels = Partial<Record<string, string | number>>;
interface Readable {
  get(): Promise<{ values: { value: number; labels: Labels; metricName?: string }[] }>;
}

async function total(metric: Readable, where: (labels: Labels) => boolean = () => true): Promise<number> {
  const { values } = await metric.get();
  return values.filter((v) => where(v.labels)).reduce((sum, v) => sum + v.value, 0);
}

async function buckets(histogram: Readable, lane: string): Promise<Map<number, number>> {
  const { values } = await histogram.get();
  const out = new Map<number, number>();
  for (const v of values) {
    if (!v.metricName?.endsWith('_bucket') || v.labels.lane !== lane) continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    out.set(le, v.value);
  }
  return out;
}

function subtractBuckets(a: Map<number, number>, b: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, count] of a) out.set(le, count - (b.get(le) ?? 0));
  return out;
}

/**
 * The q-quantile of cumulative histogram buckets, interpolated linearly inside the bucket it falls in
 * (as Prometheus' histogram_quantile does); the highest finite bound when it falls in +Inf; null when
 * the histogram is empty.
 */
export function quantileFromBuckets(cumulative: Map<number, number>, q: number): number | null {
  const bounds = [...cumulative.entries()].sort(([a], [b]) => a - b);
  const count = bounds[bounds.length - 1]?.[1] ?? 0;
  if (count <= 0) return null;
  const rank = q * count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, cum] of bounds) {
    if (cum >= rank) {
      if (le === Infinity) return lowerBound;
      const inBucket = cum - lowerCount;
      return inBucket <= 0 ? le : lowerBound + ((le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = le;
    lowerCount = cum;
  }
  return lowerBound;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function seconds(s: number | null): string {
  if (s === null) return '-';
  return s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`;
}

/** The full-screen view for a terminal (the caller clears the screen before writing it). */
export function renderScreen(f: DemoFigures, header: string[]): string {
  const budgetShare =
    f.budgetPerMinute > 0 ? Math.round((100 * f.budgetUsedLastMinute) / f.budgetPerMinute) : 0;
  const rows: [string, string][] = [
    ['running', `${f.elapsedSeconds.toFixed(0)} s   stream ${f.streaming ? 'connected' : 'NOT connected'}`],
    ['slot lag', formatBytes(f.slotLagBytes)],
    ['since last applied commit', seconds(f.secondsSinceLastCommit)],
    ['changes applied', `${f.changesPerSecond.toFixed(1)}/s   (${f.changesApplied} in all)`],
    ['pushes accepted', `${f.pushesLastMinute} in the last minute   (${f.pushesAccepted} in all)`],
    ['rate budget', `${f.budgetUsedLastMinute} / ${f.budgetPerMinute} per minute (${budgetShare}%)`],
    [
      'backlog',
      `live ${f.backlogLive}   bulk ${f.backlogBulk}   backfill ${f.backlogBackfill}   in flight ${f.inFlight}`,
    ],
    ['parked', String(f.parked)],
    [
      'commit -> accept (live, 1 min)',
      `p50 ${seconds(f.commitToAcceptP50)}   p99 ${seconds(f.commitToAcceptP99)}`,
    ],
    ['instances in Feishu (fake)', String(f.instancesInFeishu)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    ...header,
    '',
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
    '  Ctrl-C stops the demo and removes everything it created.',
    '',
  ].join('\n');
}

/** One line for a log or a pipe. */
export function renderLine(f: DemoFigures): string {
  return [
    `t=${f.elapsedSeconds.toFixed(0)}s`,
    `streaming=${f.streaming ? 1 : 0}`,
    `slot_lag=${formatBytes(f.slotLagBytes).replace(' ', '')}`,
    `since_commit=${f.secondsSinceLastCommit.toFixed(1)}s`,
    `changes/s=${f.changesPerSecond.toFixed(1)}`,
    `pushes/min=${f.pushesLastMinute}`,
    `budget=${f.budgetUsedLastMinute}/${f.budgetPerMinute}`,
    `backlog_live=${f.backlogLive}`,
    `backlog_bulk=${f.backlogBulk}`,
    `backlog_backfill=${f.backlogBackfill}`,
    `parked=${f.parked}`,
    `p50=${seconds(f.commitToAcceptP50).replace(' ', '')}`,
    `p99=${seconds(f.commitToAcceptP99).replace(' ', '')}`,
    `feishu_instances=${f.instancesInFeishu}`,
  ].join(' ');
}
