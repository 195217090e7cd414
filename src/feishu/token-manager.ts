// The tenant_access_token of a self-built app (reference/feishu-api.md §5.1): cached, renewed ahead of
// its expiry, renewed at most once at a time, and dropped when Feishu says it is no longer valid. The
// HTTP exchange itself (POST /open-apis/auth/v3/tenant_access_token/internal) is injected as
// `fetchToken` so this module holds only the caching policy; the client supplies the request.
// Invariant: at most one renewal is in flight; every caller waiting on it gets the same outcome; the
// token value never leaves this module except as the return value of get().

export const TENANT_TOKEN_PATH = '/open-apis/auth/v3/tenant_access_token/internal';

export interface IssuedToken {
  token: string;
  /** Seconds of validity left, as Feishu's `expire` field says. */
  expireSeconds: number;
}

export type RenewReason = 'initial' | 'expiring' | 'invalidated';

export interface TokenManagerOptions {
  fetchToken: () => Promise<IssuedToken>;
  /** Renew when less than this is left (default 5 min). Keep it under 30 min: before that Feishu returns the same token. */
  renewBeforeMs?: number;
  now?: () => number;
  onRenew?: (event: { reason: RenewReason; expiresAt: number }) => void;
}

interface Cached {
  token: string;
  expiresAt: number;
  renewAt: number;
}

// A token this close to expiry is not handed out even when renewal fails: the request could outlive it.
const LAST_USE_MARGIN_MS = 30_000;

export class TokenManager {
  readonly #fetchToken: () => Promise<IssuedToken>;
  readonly #renewBeforeMs: number;
  readonly #now: () => number;
  readonly #onRenew: TokenManagerOptions['onRenew'];
  #cached: Cached | undefined;
  #inFlight: Promise<string> | undefined;
  #invalidated = false;
  #renewals = 0;

  constructor(options: TokenManagerOptions) {
    this.#fetchToken = options.fetchToken;
    this.#renewBeforeMs = options.renewBeforeMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#onRenew = options.onRenew;
  }

  /** How many tokens were fetched successfully so far. */
  get renewals(): number {
    return this.#renewals;
  }

  async get(): Promise<string> {
    const cached = this.#cached;
    if (cached && this.#now() < cached.renewAt) return cached.token;
    this.#inFlight ??= this.#renew().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /** Forget `token` after Feishu rejected it (99991663); a no-op if a newer token is already cached. */
  invalidate(token: string): void {
    if (this.#cached?.token !== token) return;
    this.#cached = undefined;
    this.#invalidated = true;
  }

  async #renew(): Promise<string> {
    const previous = this.#cached;
    const reason: RenewReason = previous ? 'expiring' : this.#invalidated ? 'invalidated' : 'initial';
    try {
      const issued = await this.#fetchToken();
      const now = this.#now();
      const lifetimeMs = Math.max(0, issued.expireSeconds * 1000);
      // A short-lived token (Feishu may answer with little `expire` left) is used for half its life
      // rather than renewed on every call.
      const lead = Math.min(this.#renewBeforeMs, lifetimeMs / 2);
      const expiresAt = now + lifetimeMs;
      this.#cached = { token: issued.token, expiresAt, renewAt: expiresAt - lead };
      this.#invalidated = false;
      this.#renewals++;
      this.#onRenew?.({ reason, expiresAt });
      return issued.token;
    } catch (err) {
      // Renewal ahead of time failed but the old token still works: keep serving it, try again later.
      const current = this.#cached;
      if (current && current === previous && this.#now() < current.expiresAt - LAST_USE_MARGIN_MS)
        return current.token;
      throw err;
    }
  }
}
