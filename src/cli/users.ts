// `approval-cdc users report [--json]`: the legacy identities the mappings reference that do not
// resolve to a Feishu user, with counts, from the replica (run it after `setup`, before go-live).
// Exit 0 when every identity resolves, 3 when some do not, 1 on failure.
import { describeError } from '../errors.js';
import { migrateStateDb } from '../replica/state-db.js';
import { openStateOf } from '../replica/state-store.js';
import { renderUsersReport, usersReportOf } from '../sync/users-report.js';
import { commandContext, mappingsOf, type GlobalFlags } from './context.js';
import { feishuClientOf } from './definitions.js';

export async function usersReportCommand(
  flags: GlobalFlags & { json?: boolean },
  out: (text: string) => void = (t) => process.stdout.write(t),
): Promise<number> {
  const { settings, logger } = commandContext(flags);
  let state: Awaited<ReturnType<typeof openStateOf>> | undefined;
  try {
    state = await openStateOf(settings, { max: 2, logger });
    const mappings = await mappingsOf(settings);
    const client = feishuClientOf(settings);
    try {
      await migrateStateDb(state);
      const report = await usersReportOf(state.db, settings, mappings, client);
      out(flags.json ? `${JSON.stringify(report)}\n` : renderUsersReport(report));
      return report.unresolved.length > 0 ? 3 : 0;
    } finally {
      await client.close();
    }
  } catch (error) {
    process.stderr.write(`users report failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    await state?.close();
    logger.flush();
  }
}
