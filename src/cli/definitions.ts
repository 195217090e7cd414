// `approval-cdc definitions plan | apply [--allow-create]`: approval definitions as code, from
// definitions.yaml beside the mappings. plan prints what apply would create or change and writes
// nothing; apply upserts by custom code and remembers the platform codes in the state database.
// Exit codes: 0 done (plan: nothing to do), 1 failure, 2 refused (apply would create without
// --allow-create), 3 plan with changes pending.
import type { Settings } from '../config/settings.js';
import { CdcError, describeError } from '../errors.js';
import { definitionsPathFor, loadDefinitionsFile } from '../feishu/definition-spec.js';
import { FeishuClient } from '../feishu/feishu-client.js';
import { migrateStateDb } from '../replica/state-db.js';
import { openStateOf } from '../replica/state-store.js';
import { applyDefinitions, planDefinitions, renderPlan } from '../sync/definitions-sync.js';
import { commandContext, type GlobalFlags } from './context.js';

export function feishuClientOf(settings: Settings): FeishuClient {
  if (!settings.feishuAppId || !settings.feishuAppSecret)
    throw new CdcError(
      'CONFIG_INVALID',
      'APPROVAL_CDC_FEISHU_APP_ID and APPROVAL_CDC_FEISHU_APP_SECRET are required to talk to Feishu',
    );
  return new FeishuClient({
    baseUrl: settings.feishuBaseUrl,
    appId: settings.feishuAppId,
    appSecret: settings.feishuAppSecret,
    requestTimeoutMs: settings.requestTimeoutMs,
    connections: 2,
  });
}

export async function definitionsCommand(
  action: 'plan' | 'apply',
  flags: GlobalFlags & { allowCreate?: boolean; json?: boolean },
  out: (text: string) => void = (t) => process.stdout.write(t),
): Promise<number> {
  const { settings, logger } = commandContext(flags);
  const path = definitionsPathFor(settings.mappings);
  let client: FeishuClient;
  try {
    client = feishuClientOf(settings);
  } catch (error) {
    process.stderr.write(`definitions ${action}: ${describeError(error)}\n`);
    return 1;
  }
  let state: Awaited<ReturnType<typeof openStateOf>> | undefined;
  try {
    state = await openStateOf(settings, { max: 2, logger });
    const set = loadDefinitionsFile(path);
    if (!set) {
      process.stderr.write(`definitions ${action}: no ${path}; declare definitions there first\n`);
      return 1;
    }
    await migrateStateDb(state);
    const plan = await planDefinitions(set, client, state.db, settings.stateSchema);
    if (action === 'plan') {
      out(flags.json ? `${JSON.stringify(plan)}\n` : renderPlan(plan));
      return plan.callsToApply > 0 ? 3 : 0;
    }
    if (!flags.allowCreate && plan.items.some((i) => i.action === 'create')) {
      out(renderPlan(plan));
      process.stderr.write(
        'definitions apply: this creates definitions, which Feishu cannot delete; pass --allow-create to confirm\n',
      );
      return 2;
    }
    const applied = await applyDefinitions(plan, client, state.db, settings.stateSchema, {
      allowCreate: flags.allowCreate === true,
    });
    out(
      flags.json
        ? `${JSON.stringify(applied)}\n`
        : `${applied.map((a) => `${a.key}: ${a.action} (platform code ${a.platformCode})`).join('\n')}\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`definitions ${action} failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    await client.close();
    await state?.close();
    logger.flush();
  }
}
