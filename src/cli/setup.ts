// `approval-cdc setup [--resnapshot]`: migrate the state schema, create publication and slot, copy the
// mapped tables under the slot's snapshot. Idempotent; `run` does the same on first start.
import pg from 'pg';
import { describeError } from '../errors.js';
import { CheckpointStore } from '../replica/checkpoint-store.js';
import { ReplicaWriter } from '../replica/replica-writer.js';
import { migrateStateDb, openStateDb } from '../replica/state-db.js';
import { ensureRowQueryIndexes } from '../replica/row-query.js';
import { resolveTableKeys } from '../source/catalog.js';
import { ensureInitialLoad } from '../source/initial-load.js';
import { formatLsn } from '../source/lsn.js';
import { commandContext, mappingsOf, type GlobalFlags } from './context.js';

export async function setupCommand(flags: GlobalFlags & { resnapshot?: boolean }): Promise<number> {
  const { settings: s, logger } = commandContext(flags);
  const mappings = await mappingsOf(s);
  const state = openStateDb(s.stateUrl, s.stateSchema);
  try {
    await migrateStateDb(state);
    await ensureRowQueryIndexes(state.db, s.stateSchema, mappings.queryColumns);
    const source = new pg.Client({ connectionString: s.sourceUrl });
    await source.connect();
    const tableKeys = await resolveTableKeys(source, mappings).finally(() => source.end());
    const writer = new ReplicaWriter(state.db, s.stateSchema, mappings, tableKeys, s.slotName);
    const lsn = await ensureInitialLoad({
      sourceUrl: s.sourceUrl,
      slot: s.slotName,
      publication: s.publicationName,
      mappings,
      tableKeys,
      writer,
      checkpoints: new CheckpointStore(state.db, s.stateSchema),
      logger,
      resnapshot: flags.resnapshot === true,
      pageSize: s.snapshotPageRows,
      onProgress: (table, p) => {
        if (process.stderr.isTTY) process.stderr.write(`\r  copying ${table}: ${p.rows} rows${p.done ? ' done\n' : ''}`);
      },
    });
    process.stdout.write(`setup complete: slot ${s.slotName}, publication ${s.publicationName}, streaming from ${formatLsn(lsn)}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`setup failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    await state.close();
    logger.flush();
  }
}
