// Rate-limits log lines that repeat by kind (an error code and the class of its reason), so 150
// instances parked for 2 causes in 5 s give 2 lines and, a window later, 2 summaries ("… and 148 more
// …") instead of 150 lines. Invariant: nothing is dropped silently: the first of a kind in a window is
// logged at once with its own fields, and every one held back is counted in that kind's summary,
// written when the window ends or at flush().
import type { Logger } from './logger.js';

export type ThrottledLevel = 'warn' | 'error';

/** What makes two log lines "the same kind": their code and their reason without its particulars. */
export interface LogKind {
  code: string;
  reason: string;
}

interface Held {
  level: ThrottledLevel;
  code: string;
  reasonClass: string;
  message: string;
  start: number;
  suppressed: number;
  timer: NodeJS.Timeout | null;
}

/**
 * The reason with what differs between instances taken out: numbers (ids, sizes, attempts) and long
 * quoted values, so "field 'amount' is 70123 characters" and "... 70456 characters" are one kind.
 */
export function reasonClass(reason: string): string {
  return reason
    .replace(/(["'`])([^"'`]{25,})\1/g, '$1…$1')
    .replace(/\d+(\.\d+)?/g, 'N')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 120);
}

/** The kind of a thrown error: its code (a CdcError's, SQLSTATE, errno) or name, and its message. */
export function errorKind(error: unknown): LogKind {
  if (!(error instanceof Error)) return { code: 'ERROR', reason: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    code: typeof code === 'string' || typeof code === 'number' ? String(code) : error.name,
    reason: error.message,
  };
}

export class LogThrottle {
  private readonly held = new Map<string, Held>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(
    private readonly logger: Logger,
    o: { windowMs?: number; now?: () => number } = {},
  ) {
    this.windowMs = o.windowMs ?? 60_000;
    this.now = o.now ?? Date.now;
  }

  warn(kind: LogKind, fields: Record<string, unknown>, message: string): void {
    this.log('warn', kind, fields, message);
  }

  error(kind: LogKind, fields: Record<string, unknown>, message: string): void {
    this.log('error', kind, fields, message);
  }

  /** Writes the summaries of every kind held back so far (at a stop: nothing counted is lost). */
  flush(): void {
    for (const [key, h] of this.held) this.close(key, h);
  }

  private log(level: ThrottledLevel, kind: LogKind, fields: Record<string, unknown>, message: string): void {
    const cls = reasonClass(kind.reason);
    const key = `${level}\u0000${kind.code}\u0000${cls}`;
    const now = this.now();
    const h = this.held.get(key);
    if (h && now - h.start < this.windowMs) {
      h.suppressed++;
      // The summary goes out when the window ends, even if no line of this kind follows.
      h.timer ??= setTimeout(() => this.close(key, h), Math.max(0, h.start + this.windowMs - now)).unref();
      return;
    }
    if (h) this.close(key, h);
    this.logger[level](fields, message);
    this.held.set(key, {
      level,
      code: kind.code,
      reasonClass: cls,
      message,
      start: now,
      suppressed: 0,
      timer: null,
    });
  }

  private close(key: string, h: Held): void {
    if (h.timer) clearTimeout(h.timer);
    h.timer = null;
    if (this.held.get(key) === h) this.held.delete(key);
    if (h.suppressed === 0) return;
    const seconds = Math.round(this.windowMs / 1000);
    this.logger[h.level](
      { code: h.code, reasonClass: h.reasonClass, suppressed: h.suppressed, windowSeconds: seconds },
      `… and ${h.suppressed} more like "${short(h.message)}" (${h.code}) in the last ${seconds} s`,
    );
  }
}

function short(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}
