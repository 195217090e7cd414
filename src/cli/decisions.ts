// `approval-cdc decisions list [--state s] [--json] | retry <ids…>|--all`: the inbox of decisions
// taken in Feishu, their state (received, applied, refused, parked) and reason; retry sends parked
// decisions back to the applier of the running connector, which picks them up within a second.
import { describeError } from '../errors.js';
import { DecisionStore, type DecisionState } from '../decisions/decision-store.js';
import { migrateStateDb, openStateDb } from '../replica/state-db.js';
import { commandContext, type GlobalFlags } from './context.js';
import { EXIT, toExitCode, type ExitCode } from './exit-codes.js';

export type DecisionsAction = 'list' | 'retry';
const STATES: readonly DecisionState[] = ['received', 'applied', 'refused', 'parked'];

export async function decisionsCommand(
  action: DecisionsAction,
  ids: string[],
  flags: GlobalFlags & { all?: boolean; json?: boolean; state?: string },
  io: { out?: NodeJS.WritableStream; err?: NodeJS.WritableStream; overrides?: Record<string, unknown> } = {},
): Promise<ExitCode> {
  const out = io.out ?? process.stdout;
  const err = io.err ?? process.stderr;
  const { settings, logger } = commandContext(flags, io.overrides);
  const state = openStateDb(settings.stateUrl, settings.stateSchema, { max: 2 });
  try {
    await migrateStateDb(state);
    const store = new DecisionStore(state.db, settings.stateSchema);
    if (action === 'list') {
      const wanted = flags.state?.split(',').map((s) => s.trim());
      const bad = wanted?.find((s) => !(STATES as readonly string[]).includes(s));
      if (bad !== undefined) {
        err.write(`decisions list: unknown state ${bad} (${STATES.join(', ')})\n`);
        return EXIT.config;
      }
      const rows = await store.list((wanted as DecisionState[] | undefined) ?? 'all');
      if (flags.json) out.write(`${JSON.stringify(rows)}\n`);
      else if (rows.length === 0) out.write('no decisions\n');
      else
        for (const d of rows) {
          out.write(
            `#${d.id}  ${d.state.padEnd(8)}  ${d.actionType.padEnd(7)}  ${d.instanceId}/${d.taskId}  by ${d.operatorUserId} via ${d.via}  attempts=${d.attempts}  received=${d.receivedAt.toISOString()}\n`,
          );
          const why = d.state === 'parked' ? d.lastError : d.outcome;
          if (why) out.write(`    ${why}\n`);
        }
      return EXIT.ok;
    }
    const target = flags.all ? 'all' : ids;
    if (target !== 'all' && target.length === 0) {
      err.write('decisions retry: name decision ids (#n from decisions list) or pass --all\n');
      return EXIT.config;
    }
    const n = await store.retryParked(target === 'all' ? 'all' : target.map((id) => id.replace(/^#/, '')));
    out.write(`${n} parked decisions will be applied again\n`);
    return EXIT.ok;
  } catch (error) {
    err.write(`decisions ${action} failed: ${describeError(error)}\n`);
    return toExitCode(error);
  } finally {
    await state.close();
    logger.flush();
  }
}
