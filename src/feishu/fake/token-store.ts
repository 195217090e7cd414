// tenant_access_token issuing of the fake Feishu, as reference §5.1 describes it: the same token comes
// back until less than 30 minutes are left, then a new one, and the old one stays valid until its own
// expiry.
// Invariant: a token is valid exactly while now < its expiry and no expireAll() happened since it was
// issued.
import { randomBytes } from 'node:crypto';

const REISSUE_BELOW_MS = 30 * 60_000;

export class TokenStore {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #expiresAt = new Map<string, number>();
  #current: string | undefined;
  #issued = 0;

  constructor(ttlSeconds: number, now: () => number) {
    this.#ttlMs = ttlSeconds * 1000;
    this.#now = now;
  }

  get issued(): number {
    return this.#issued;
  }

  issue(): { token: string; expire: number } {
    const now = this.#now();
    const current = this.#current;
    const currentExpiry = current === undefined ? undefined : this.#expiresAt.get(current);
    if (
      current !== undefined &&
      currentExpiry !== undefined &&
      currentExpiry - now >= Math.min(REISSUE_BELOW_MS, this.#ttlMs / 2)
    ) {
      return { token: current, expire: Math.floor((currentExpiry - now) / 1000) };
    }
    const token = `t-fake-${randomBytes(12).toString('hex')}`;
    this.#expiresAt.set(token, now + this.#ttlMs);
    this.#current = token;
    this.#issued++;
    for (const [t, at] of this.#expiresAt) if (at <= now) this.#expiresAt.delete(t);
    return { token, expire: Math.floor(this.#ttlMs / 1000) };
  }

  isValid(token: string): boolean {
    const at = this.#expiresAt.get(token);
    return at !== undefined && this.#now() < at;
  }

  expireAll(): void {
    this.#expiresAt.clear();
    this.#current = undefined;
  }
}
