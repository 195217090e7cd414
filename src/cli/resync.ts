// `approval-cdc resync [instance-id...] [--mapping M] [--table T] [--where COND] [--dry-run [--limit N]]`:
// push instances again from the replica (after a mapping change). The daemon picks them up in the
// backfill lane. A dry run lists what it would push and changes nothing (read-only transaction).
import { describeError } from '../errors.js';
import { migrateStateDb, openStateDb } from '../replica/state-db.js';
import { resync } from '../replica/resync.js';
import { commandContext, mappingsOf, type GlobalFlags } from './context.js';
import { toExitCode } from './exit-codes.js';

export interface ResyncFlags extends GlobalFlags {
  ids?: string[];
  mapping?: string;
  table?: string;
  where?: string;
  dryRun?: boolean;
  limit?: number;
}

/** How many ids a dry run lists when --limit is not given. */
const DRY_RUN_LIST = 20;

export async function resyncCommand(flags: ResyncFlags): Promise<number> {
  const { settings, logger } = commandContext(flags);
  const mappings = await mappingsOf(settings);
  const state = openStateDb(settings.stateUrl, settings.stateSchema, { max: 2 });
  try {
    await migrateStateDb(state);
    const dryRun = flags.dryRun === true;
    const result = await resync({
      db: state.db,
      schema: settings.stateSchema,
      mappings,
      ...(flags.mapping ? { mapping: flags.mapping } : {}),
      ...(flags.table ? { table: flags.table } : {}),
      ...(flags.where !== undefined ? { where: flags.where } : {}),
      ...(flags.ids && flags.ids.length > 0 ? { instanceIds: flags.ids } : {}),
      dryRun,
      limit: dryRun ? (flags.limit ?? DRY_RUN_LIST) : 0,
    });
    if (result.dryRun) {
      process.stdout.write(`dry run: ${result.instances} instances would be pushed again\n`);
      for (const id of result.listed) process.stdout.write(`${id}\n`);
      if (result.listed.length < result.instances)
        process.stdout.write(
          `… and ${result.instances - result.listed.length} more (--limit N lists more)\n`,
        );
    } else {
      process.stdout.write(`${result.instances} instances marked for another push (backfill lane)\n`);
    }
    return 0;
  } catch (error) {
    process.stderr.write(`resync failed: ${describeError(error)}\n`);
    return toExitCode(error);
  } finally {
    await state.close();
    logger.flush();
  }
}
