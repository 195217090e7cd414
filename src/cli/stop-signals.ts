// What SIGINT and SIGTERM do to a long-running command: the first starts a graceful stop (pushes in
// flight finish, the checkpoint is written), a second one exits at once, saying so. Invariant: no
// exit is silent: the operator who pressed Ctrl-C twice reads why the process ended and what the
// next start repeats.
import type { Logger } from '../core/logger.js';
import { EXIT } from './exit-codes.js';

export interface StopSignalOptions {
  logger: Logger;
  /** Starts the graceful stop (not awaited here). */
  stop(): void;
  /** Ends the process (process.exit outside tests). */
  exit(code: number): void;
}

/** The handler to install for SIGINT and SIGTERM. */
export function stopSignalHandler(o: StopSignalOptions): (signal: string) => void {
  let signalled = false;
  return (signal) => {
    if (signalled) {
      o.logger.warn(
        { signal },
        'second signal: exiting now without waiting; pushes that were in flight are sent again after the next start (Feishu keeps the latest update_time), the checkpoint is where the last batch left it',
      );
      o.logger.flush();
      o.exit(EXIT.failure);
      return;
    }
    signalled = true;
    o.logger.info({ signal }, 'stopping: finishing pushes in flight (signal again to exit at once)');
    o.stop();
  };
}
