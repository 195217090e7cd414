// Fault injection of the fake Feishu: the failures a real deployment meets (errors, resets, latency,
// outages, expired tokens, "same instance too soon"), switchable at run time from code or over HTTP.
// Invariant: with a seed, the sequence of injected faults depends only on the sequence of requests,
// so tests that set a rate are deterministic.
import { z } from 'zod';

export const faultSettingsSchema = z.object({
  /** The next `count` API calls fail with this status (and code, when given). */
  failNext: z
    .object({
      count: z.number().int().min(0),
      status: z.number().int().min(200).max(599),
      code: z.number().int().optional(),
      msg: z.string().optional(),
    })
    .optional(),
  /** Share of API calls answered with `error` (default HTTP 503). */
  errorRate: z.number().min(0).max(1).optional(),
  error: z
    .object({
      status: z.number().int().min(200).max(599).optional(),
      code: z.number().int().optional(),
      msg: z.string().optional(),
    })
    .optional(),
  /** Share of API calls whose socket is destroyed without an answer. */
  resetRate: z.number().min(0).max(1).optional(),
  /** Delay before answering: fixed, or uniform in [min, max]. */
  latencyMs: z.union([z.number().min(0), z.tuple([z.number().min(0), z.number().min(0)])]).optional(),
  /** Every call, the token endpoint included, gets HTTP 503. */
  down: z.boolean().optional(),
  /** A push of the same instance sooner than this after its last accepted push gets 1395001 (0 = off). */
  minSameInstanceIntervalMs: z.number().min(0).optional(),
  /** Counted calls allowed this month (a capped edition); null = uncapped (quota.ts). */
  monthlyQuota: z.number().int().min(0).nullable().optional(),
  /** Every counted call answers HTTP 429 with this code until cleared or renewed (quota.ts). */
  quotaExhausted: z
    .union([z.literal(99991403), z.literal(99991406)])
    .nullable()
    .optional(),
  /**
   * API paths answered 99991663 whatever the token, as the real server answers endpoints the app may
   * not call (feishu-beyond-instances.md §3.4).
   */
  invalidTokenOn: z.array(z.string()).optional(),
  /** Seeds the random source of errorRate/resetRate/latency ranges. */
  seed: z.number().int().optional(),
});
export type FaultSettings = z.infer<typeof faultSettingsSchema>;

export type InjectedFault =
  { kind: 'none' } | { kind: 'reset' } | { kind: 'error'; status: number; code?: number; msg?: string };

export interface FaultControl {
  /** Merges `settings` into the current ones (a key set to undefined is left as it is). */
  set(settings: FaultSettings): void;
  /** Back to no faults. */
  clear(): void;
  current(): Readonly<FaultSettings>;
  /** Every token issued so far stops working now. */
  expireTokens(): void;
}

export class Faults implements FaultControl {
  #settings: FaultSettings = {};
  #random: () => number = Math.random;
  readonly #expireTokens: () => void;

  constructor(expireTokens: () => void, initial: FaultSettings = {}) {
    this.#expireTokens = expireTokens;
    this.set(initial);
  }

  set(settings: FaultSettings): void {
    const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
    this.#settings = {
      ...this.#settings,
      ...defined,
      failNext: settings.failNext ? { ...settings.failNext } : this.#settings.failNext,
    };
    if (settings.seed !== undefined) this.#random = mulberry32(settings.seed);
  }

  clear(): void {
    this.#settings = {};
    this.#random = Math.random;
  }

  current(): Readonly<FaultSettings> {
    return this.#settings;
  }

  expireTokens(): void {
    this.#expireTokens();
  }

  get down(): boolean {
    return this.#settings.down === true;
  }

  get minSameInstanceIntervalMs(): number {
    return this.#settings.minSameInstanceIntervalMs ?? 0;
  }

  /** Decides the fault of one API call; consumes failNext and the random source. */
  draw(): InjectedFault {
    const s = this.#settings;
    if (s.failNext && s.failNext.count > 0) {
      s.failNext.count--;
      const { status, code, msg } = s.failNext;
      return {
        kind: 'error',
        status,
        ...(code === undefined ? {} : { code }),
        ...(msg === undefined ? {} : { msg }),
      };
    }
    if (s.resetRate && this.#random() < s.resetRate) return { kind: 'reset' };
    if (s.errorRate && this.#random() < s.errorRate) {
      const code = s.error?.code;
      // A Feishu business code comes with HTTP 400 (reference §1.5); a bare error is a gateway 503.
      const status = s.error?.status ?? (code === undefined ? 503 : 400);
      return {
        kind: 'error',
        status,
        ...(code === undefined ? {} : { code }),
        ...(s.error?.msg === undefined ? {} : { msg: s.error.msg }),
      };
    }
    return { kind: 'none' };
  }

  latency(): number {
    const l = this.#settings.latencyMs;
    if (l === undefined) return 0;
    if (typeof l === 'number') return l;
    const [min, max] = l;
    return min + Math.floor(this.#random() * (Math.max(min, max) - min + 1));
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
