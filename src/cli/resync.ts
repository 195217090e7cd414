// `approval-cdc resync [--mapping M] [--table T] [--where SQL] [--dry-run]`: push instances again
// from the replica (after a mapping change). The daemon picks them up in the backfill lane.
import { describeError } from '../errors.js';
import { migrateStateDb } from '../replica/state-db.js';
import { openStateOf } from '../replica/state-store.js';
import { resync } from '../replica/resync.js';
import { commandContext, mappingsOf, type GlobalFlags } from './context.js';

export async function resyncCommand(
  flags: GlobalFlags & { mapping?: string; table?: string; where?: string; dryRun?: boolean },
): Promise<number> {
  const { settings, logger } = commandContext(flags);
  const mappings = await mappingsOf(settings);
  let state: Awaited<ReturnType<typeof openStateOf>> | undefined;
  try {
    state = await openStateOf(settings, { max: 2, logger });
    await migrateStateDb(state);
    const result = await resync({
      db: state.db,
      schema: settings.stateSchema,
      mappings,
      ...(flags.mapping ? { mapping: flags.mapping } : {}),
      ...(flags.table ? { table: flags.table } : {}),
      ...(flags.where ? { where: flags.where } : {}),
      dryRun: flags.dryRun === true,
    });
    process.stdout.write(
      result.dryRun
        ? `dry run: ${result.instances} instances would be pushed again\n`
        : `${result.instances} instances marked for another push (backfill lane)\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`resync failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    await state?.close();
    logger.flush();
  }
}
