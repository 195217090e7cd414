// A logger that keeps its lines in memory, for tests of what reaches the log (throttling, stop
// messages): every level the code under test calls, and flush() counted.
import type { Logger } from '../../src/core/logger.js';

export interface LoggedLine {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

export function recordingLogger(): { logger: Logger; lines: LoggedLine[]; flushes: () => number } {
  const lines: LoggedLine[] = [];
  let flushed = 0;
  const at = (level: string) => (fields: Record<string, unknown>, message: string) =>
    lines.push({ level, fields, message });
  const logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    flush: () => flushed++,
  } as unknown as Logger;
  return { logger, lines, flushes: () => flushed };
}
