// Keeps the last hour of the lag probe's samples (slot lag, budget use, backlog) for the console's
// charts. Invariant: fixed cost - one Float64Array per series, allocated once; a new sample
// overwrites the oldest, so memory never grows with uptime.

export const SAMPLE_SERIES = [
  'lagBytes',
  'lagSeconds',
  'budgetUsed',
  'backlogLive',
  'backlogBulk',
  'backlogBackfill',
] as const;

export type SampleSeries = (typeof SAMPLE_SERIES)[number];
export type Sample = Record<SampleSeries, number>;

export class SampleRing {
  private readonly times: Float64Array;
  private readonly columns: Record<SampleSeries, Float64Array>;
  private next = 0;
  private size = 0;

  /** `capacity` samples: an hour at one sample every `3600 / capacity` seconds. */
  constructor(readonly capacity: number) {
    this.times = new Float64Array(capacity);
    this.columns = Object.fromEntries(SAMPLE_SERIES.map((s) => [s, new Float64Array(capacity)])) as Record<
      SampleSeries,
      Float64Array
    >;
  }

  get length(): number {
    return this.size;
  }

  /** Records one sample taken at `atMs` (epoch milliseconds). */
  push(atMs: number, sample: Sample): void {
    this.times[this.next] = atMs / 1000;
    for (const s of SAMPLE_SERIES) this.columns[s][this.next] = sample[s];
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  /** The samples oldest first, as columns: epoch seconds, then one array per series. */
  columnsInOrder(): { t: number[] } & Record<SampleSeries, number[]> {
    const start = (this.next - this.size + this.capacity) % this.capacity;
    const pick = (a: Float64Array) => {
      const out = new Array<number>(this.size);
      for (let i = 0; i < this.size; i++) out[i] = a[(start + i) % this.capacity] as number;
      return out;
    };
    const result = { t: pick(this.times) } as { t: number[] } & Record<SampleSeries, number[]>;
    for (const s of SAMPLE_SERIES) result[s] = pick(this.columns[s]);
    return result;
  }
}
