// `approval-cdc run`: the daemon. Exit 0 on SIGINT/SIGTERM after a graceful stop; 1 on a fatal error
// or a second signal (stop-signals.ts).
import { redactedSettings } from '../config/settings.js';
import { describeError } from '../errors.js';
import { terminalProgressLine, type TableProgressReport } from '../observe/copy-progress.js';
import { startHeapGuard } from '../observe/heap-guard.js';
import { Pipeline } from '../pipeline.js';
import { toExitCode } from './exit-codes.js';
import { commandContext, mappingsOf, type GlobalFlags } from './context.js';
import { stopSignalHandler } from './stop-signals.js';

export async function runCommand(flags: GlobalFlags): Promise<number> {
  const { settings, logger } = commandContext(flags);
  const mappings = await mappingsOf(settings);
  logger.info(
    { settings: redactedSettings(settings), mappings: mappings.mappingNames },
    'starting approval-cdc',
  );
  const heapGuard = startHeapGuard(settings.heapTargetMb);
  const pipeline = new Pipeline({
    settings,
    mappings,
    logger,
    // The first start copies every mapped table; show how far it got on a terminal.
    ...(process.stderr.isTTY
      ? {
          onSnapshotProgress: (r: TableProgressReport) => process.stderr.write(terminalProgressLine(r)),
        }
      : {}),
  });
  const onSignal = stopSignalHandler({
    logger,
    stop: () => void pipeline.stop(),
    exit: (code) => process.exit(code),
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await pipeline.start();
    await pipeline.done;
    return 0;
  } catch (error) {
    logger.fatal({ err: error }, describeError(error));
    await pipeline.stop(error).catch(() => undefined);
    return toExitCode(error);
  } finally {
    heapGuard?.stop();
    logger.flush();
  }
}
