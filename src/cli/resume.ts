// `approval-cdc resume`: asks the running connector to push again now, whatever stopped it (the
// monthly quota pause after an upgrade or an early renewal, a fixed scope). The request waits in the
// state database; the connector picks it up within seconds, or at its next start.
import { describeError } from '../errors.js';
import { migrateStateDb } from '../replica/state-db.js';
import { openStateOf } from '../replica/state-store.js';
import { PushGateStore } from '../sync/push-gate-store.js';
import { requestResume } from '../sync/quota-watch.js';
import { commandContext, type GlobalFlags } from './context.js';

export async function resumeCommand(
  flags: GlobalFlags,
  out: (text: string) => void = (t) => process.stdout.write(t),
): Promise<number> {
  const { settings, logger } = commandContext(flags);
  let state: Awaited<ReturnType<typeof openStateOf>> | undefined;
  try {
    state = await openStateOf(settings, { max: 1, logger });
    await migrateStateDb(state);
    const gate = await new PushGateStore(state.db, settings.stateSchema, settings.slotName).read();
    await requestResume(state.db, settings.stateSchema, settings.slotName);
    out(
      gate?.state === 'stopped'
        ? `resume requested; pushing was stopped since ${gate.since?.toISOString() ?? '?'}: ${gate.reason ?? ''}\n` +
            'the running connector resumes within seconds (if Feishu refuses again, it pauses again)\n'
        : 'resume requested; pushing was not recorded as stopped\n',
    );
    return 0;
  } catch (error) {
    process.stderr.write(`resume failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    await state?.close();
    logger.flush();
  }
}
