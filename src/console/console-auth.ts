// Decides who may act through the console. Invariants: with no admin token configured every action
// is refused (the console is read-only); an action is allowed only with the token itself in an
// `Authorization: Bearer` header (no browser sends that on its own, so no cross-site request can),
// or with a session from the login form plus that session's CSRF token in the form and no foreign
// Origin; tokens are compared in constant time and never stored or logged, only hashed.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'approval_cdc_console';
const SESSION_TTL_MS = 12 * 3600_000;
const MAX_SESSIONS = 100;

export interface Session {
  id: string;
  csrf: string;
  expiresAt: number;
}

export type Authorization =
  { ok: true; by: 'token' | 'session' } | { ok: false; status: 401 | 403; reason: string };

const digest = (text: string) => createHash('sha256').update(text).digest();

export class ConsoleAuth {
  private readonly tokenHash: Buffer | null;
  private readonly sessions = new Map<string, Session>();

  constructor(
    adminToken: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.tokenHash = adminToken ? digest(adminToken) : null;
  }

  /** Whether actions are possible at all. */
  get actionsEnabled(): boolean {
    return this.tokenHash !== null;
  }

  isToken(candidate: string): boolean {
    return this.tokenHash !== null && timingSafeEqual(digest(candidate), this.tokenHash);
  }

  /** A new session for a correct token, or null. */
  login(token: string): Session | null {
    if (!this.isToken(token)) return null;
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
    // Bounded: the oldest session goes first (a Map iterates in insertion order).
    while (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const session = {
      id: randomBytes(24).toString('base64url'),
      csrf: randomBytes(24).toString('base64url'),
      expiresAt: now + SESSION_TTL_MS,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  logout(req: IncomingMessage): void {
    const s = this.sessionOf(req);
    if (s) this.sessions.delete(s.id);
  }

  sessionOf(req: IncomingMessage): Session | null {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const s = id ? this.sessions.get(id) : undefined;
    if (!s) return null;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(s.id);
      return null;
    }
    return s;
  }

  /** May this POST act? `csrf` is the form's CSRF field. */
  authorize(req: IncomingMessage, csrf: string | null): Authorization {
    if (!this.actionsEnabled) {
      return {
        ok: false,
        status: 403,
        reason: 'the console is read-only: no admin token is configured (APPROVAL_CDC_ADMIN_TOKEN)',
      };
    }
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(.+)$/i.exec(header);
      return m && this.isToken(m[1] as string)
        ? { ok: true, by: 'token' }
        : { ok: false, status: 401, reason: 'the admin token in the Authorization header is wrong' };
    }
    const session = this.sessionOf(req);
    if (!session) return { ok: false, status: 401, reason: 'sign in with the admin token first' };
    if (!sameOrigin(req)) return { ok: false, status: 403, reason: 'cross-site request refused' };
    if (csrf === null || !equalText(csrf, session.csrf))
      return { ok: false, status: 403, reason: 'missing or stale form token (reload the page)' };
    return { ok: true, by: 'session' };
  }

  setCookieHeader(session: Session): string {
    return `${SESSION_COOKIE}=${session.id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}`;
  }

  static clearCookieHeader(): string {
    return `${SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}

/** A request whose Origin (or, lacking it, Sec-Fetch-Site) says it comes from another site is refused. */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }
  if (origin === 'null') return false;
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

function equalText(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}
