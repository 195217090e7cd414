// `approval-cdc parked list | retry <ids…>|--all | drop <ids…>|--all --yes`: parked instances, their
// reason, attempts and last error; retry un-parks them now; drop gives up on their current version.
import { describeError } from '../errors.js';
import { migrateStateDb } from '../replica/state-db.js';
import { openStateOf } from '../replica/state-store.js';
import { InstanceTable } from '../replica/instance-table.js';
import { commandContext, type GlobalFlags } from './context.js';

export type ParkedAction = 'list' | 'retry' | 'drop';

export async function parkedCommand(
  action: ParkedAction,
  ids: string[],
  flags: GlobalFlags & { all?: boolean; yes?: boolean; json?: boolean },
): Promise<number> {
  const { settings, logger } = commandContext(flags);
  let state: Awaited<ReturnType<typeof openStateOf>> | undefined;
  try {
    state = await openStateOf(settings, { max: 2, logger });
    await migrateStateDb(state);
    const store = new InstanceTable(state.db, settings.stateSchema);
    if (action === 'list') {
      const parked = await store.listParked();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(parked)}\n`);
      } else if (parked.length === 0) {
        process.stdout.write('no parked instances\n');
      } else {
        for (const p of parked) {
          process.stdout.write(
            `${p.externalId}  mapping=${p.mapping}  attempts=${p.attempts}  since=${p.parkedAt.toISOString()}\n    ${p.reason}\n`,
          );
        }
      }
      return 0;
    }
    const target = flags.all ? 'all' : ids;
    if (target !== 'all' && target.length === 0) {
      process.stderr.write(`parked ${action}: name instance ids or pass --all\n`);
      return 2;
    }
    if (action === 'drop' && !flags.yes) {
      process.stderr.write(
        'parked drop marks the current version of these instances as synced without pushing it; pass --yes to confirm\n',
      );
      return 2;
    }
    const n = action === 'retry' ? await store.retryParked(target) : await store.dropParked(target);
    process.stdout.write(`${n} parked instances ${action === 'retry' ? 'will be tried again' : 'dropped'}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`parked ${action} failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    await state?.close();
    logger.flush();
  }
}
