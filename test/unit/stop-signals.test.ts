import { describe, expect, it } from 'vitest';
import { stopSignalHandler } from '../../src/cli/stop-signals.js';
import { recordingLogger } from '../support/recording-logger.js';

describe('Ctrl-C on run', () => {
  it('stops gracefully on the first signal and exits 1 on the second, saying why in the log', () => {
    const { logger, lines, flushes } = recordingLogger();
    let stops = 0;
    const exits: number[] = [];
    const handler = stopSignalHandler({ logger, stop: () => stops++, exit: (c) => exits.push(c) });
    handler('SIGINT');
    expect([stops, exits]).toEqual([1, []]);
    expect(lines.at(-1)?.message).toContain('signal again to exit at once');
    handler('SIGINT');
    expect([stops, exits]).toEqual([1, [1]]);
    expect(lines.at(-1)).toMatchObject({ level: 'warn' });
    expect(lines.at(-1)?.message).toContain('second signal: exiting now');
    expect(flushes()).toBe(1);
  });
});
