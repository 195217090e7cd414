// The monthly API quota of the fake tenant (feishu-beyond-instances.md §3.1-§3.3): counted calls
// (approval APIs; contact, auth and events are free) that succeeded add to this month's use; past
// the cap, or while a quota fault is injected, counted calls get HTTP 429 with 99991403 (Feishu,
// monthly quota) or 99991406 (Lark, points depleted). `renew()` is the 1st of the month.
// Invariant: failed calls are never counted (§3.1), and a refused call changes nothing.
import type { ApiAnswer } from './approvals.js';

export type QuotaCode = 99991403 | 99991406;

export interface QuotaSettings {
  /** Counted calls allowed per month; undefined/null = uncapped edition. */
  monthlyQuota?: number | null | undefined;
  /** Injected: every counted call answers this code until cleared or renewed. */
  quotaExhausted?: QuotaCode | null | undefined;
}

const MESSAGES: Record<QuotaCode, string> = {
  99991403: "This month's API call quota has been exceeded",
  99991406: 'Advanced API package has been depleted.',
};

export class FakeQuota {
  #used = 0;
  #refused = 0;

  get used(): number {
    return this.#used;
  }

  get refused(): number {
    return this.#refused;
  }

  /** The refusal of a counted call, or undefined when it may go ahead. */
  refuse(settings: QuotaSettings): ApiAnswer | undefined {
    const forced = settings.quotaExhausted ?? undefined;
    const cap = settings.monthlyQuota ?? undefined;
    const code: QuotaCode | undefined =
      forced ?? (cap !== undefined && this.#used >= cap ? 99991403 : undefined);
    if (code === undefined) return undefined;
    this.#refused++;
    return { status: 429, body: { code, msg: MESSAGES[code] } };
  }

  count(): void {
    this.#used++;
  }

  /** A new month: the counter starts again. */
  renew(): void {
    this.#used = 0;
  }
}
