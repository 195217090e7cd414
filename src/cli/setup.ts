// `approval-cdc setup [--resnapshot]`: check the Feishu credentials and the role's rights, migrate the
// state schema, create publication and slot, copy the mapped tables under the slot's snapshot.
// Idempotent; `run` does the same on first start. Nothing is created before the checks pass.
import type { Settings } from '../config/settings.js';
import { describeError } from '../errors.js';
import type { MappingSet } from '../mapping/contract.js';
import type { Logger } from '../core/logger.js';
import { connectFeishu } from '../connect-feishu.js';
import { migrateStateDb } from '../replica/state-db.js';
import { openStateOf } from '../replica/state-store.js';
import { formatLsn, type Lsn } from '../core/lsn.js';
import { startReplica } from '../start-replica.js';
import { CopyReporter } from '../observe/copy-reporter.js';
import { terminalProgressLine, type TableProgressReport } from '../observe/copy-progress.js';
import { commandContext, mappingsOf, type GlobalFlags } from './context.js';

export async function setupCommand(flags: GlobalFlags & { resnapshot?: boolean }): Promise<number> {
  const { settings: s, logger } = commandContext(flags);
  const mappings = await mappingsOf(s);
  try {
    const lsn = await setup(s, mappings, logger, { resnapshot: flags.resnapshot === true });
    process.stdout.write(
      `setup complete: slot ${s.slotName}, publication ${s.publicationName}, streaming from ${formatLsn(lsn)}\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`setup failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    logger.flush();
  }
}

/** Everything `setup` does; resolves to the position streaming starts from, or throws. */
export async function setup(
  s: Settings,
  mappings: MappingSet,
  logger: Logger,
  options: { resnapshot?: boolean } = {},
): Promise<Lsn> {
  // Nothing is created before Feishu accepted the credentials (run needs them anyway).
  await (await connectFeishu(s)).close();
  const state = await openStateOf(s, { logger });
  // The same progress as `run`'s: totals, rate and ETA in the log, a bar on a terminal.
  const copyReporter = new CopyReporter({
    logger,
    ...(process.stderr.isTTY
      ? { onReport: (r: TableProgressReport) => process.stderr.write(terminalProgressLine(r)) }
      : {}),
  });
  try {
    await migrateStateDb(state);
    const { checkpoint } = await startReplica({
      settings: s,
      mappings,
      db: state.db,
      pool: state.pool,
      logger,
      resnapshot: options.resnapshot === true,
      onProgress: (table, p) => copyReporter.update(table, p),
    });
    return checkpoint;
  } finally {
    await state.close();
  }
}
