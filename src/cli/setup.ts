// `approval-cdc setup [--resnapshot]`: migrate the state schema, create publication and slot, copy the
// mapped tables under the slot's snapshot. Idempotent; `run` does the same on first start.
import { describeError } from '../errors.js';
import { migrateStateDb, openStateDb } from '../replica/state-db.js';
import { formatLsn } from '../core/lsn.js';
import { commandContext, mappingsOf, type GlobalFlags } from './context.js';
import { startReplica } from '../pipeline.js';

export async function setupCommand(flags: GlobalFlags & { resnapshot?: boolean }): Promise<number> {
  const { settings: s, logger } = commandContext(flags);
  const mappings = await mappingsOf(s);
  const state = openStateDb(s.stateUrl, s.stateSchema);
  try {
    await migrateStateDb(state);
    const { checkpoint: lsn } = await startReplica({
      settings: s,
      mappings,
      db: state.db,
      logger,
      resnapshot: flags.resnapshot === true,
      onProgress: (table, p) => {
        if (process.stderr.isTTY)
          process.stderr.write(`\r  copying ${table}: ${p.rows} rows${p.done ? ' done\n' : ''}`);
      },
    });
    process.stdout.write(
      `setup complete: slot ${s.slotName}, publication ${s.publicationName}, streaming from ${formatLsn(lsn)}\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`setup failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    await state.close();
    logger.flush();
  }
}
