// The definitions findings of `approval-cdc doctor`: every definition key the mappings name must be
// declared in definitions.yaml, applied (its platform code remembered in the state database) and
// the same in Feishu as declared. Invariant: read-only (plan only: GETs, no POST); a check that
// cannot run is a finding, never an exception.
import type { Settings } from '../config/settings.js';
import { describeError } from '../errors.js';
import { definitionsPathFor, loadDefinitionsFile } from '../feishu/definition-spec.js';
import { FeishuClient } from '../feishu/feishu-client.js';
import type { MappingSet } from '../mapping/contract.js';
import { openStateOf } from '../replica/state-store.js';
import { planDefinitions } from '../sync/definitions-sync.js';
import type { Finding } from './doctor-finding.js';

const APPLY = 'approval-cdc definitions plan, then definitions apply --allow-create';

export async function definitionFindings(s: Settings, mappings: MappingSet | null): Promise<Finding[]> {
  const used = mappings?.definitionKeys?.() ?? [];
  const path = definitionsPathFor(s.mappings);
  if (used.length === 0) return [];
  const finding = (
    ok: boolean,
    severity: Finding['severity'],
    text: string,
    fix: string | null,
  ): Finding => ({
    id: 'definitions',
    ok,
    severity,
    finding: text,
    fix,
  });
  let set;
  try {
    set = loadDefinitionsFile(path);
  } catch (error) {
    return [finding(false, 'error', describeError(error), `correct ${path}`)];
  }
  const declared = new Set(set?.definitions.map((d) => d.key) ?? []);
  const undeclared = used.filter((k) => !declared.has(k));
  if (undeclared.length > 0 || !set)
    return [
      finding(
        false,
        'error',
        `the mappings use definition(s) ${undeclared.join(', ')} that ${path} does not declare`,
        `declare them in ${path}, then run ${APPLY}`,
      ),
    ];
  if (!s.feishuAppId || !s.feishuAppSecret) return [];
  let state: Awaited<ReturnType<typeof openStateOf>>;
  try {
    state = await openStateOf(s, { max: 1, create: false });
  } catch (error) {
    return [finding(false, 'error', `cannot read the applied definitions: ${describeError(error)}`, APPLY)];
  }
  const client = new FeishuClient({
    baseUrl: s.feishuBaseUrl,
    appId: s.feishuAppId,
    appSecret: s.feishuAppSecret,
    requestTimeoutMs: s.requestTimeoutMs,
    connections: 1,
  });
  try {
    const wanted = { ...set, definitions: set.definitions.filter((d) => used.includes(d.key)) };
    const plan = await planDefinitions(wanted, client, state.db, s.stateSchema);
    const out: Finding[] = [];
    for (const item of plan.items) {
      if (item.action === 'no-op') continue;
      out.push(
        finding(
          false,
          'error',
          item.action === 'create'
            ? `definition ${item.key} is missing in Feishu (${item.reasons.join('; ')}): its instances park`
            : `definition ${item.key} differs in Feishu: ${item.reasons.join('; ')}`,
          APPLY,
        ),
      );
    }
    if (out.length === 0)
      out.push(
        finding(
          true,
          'info',
          `the ${used.length} definition(s) the mappings use are applied and match`,
          null,
        ),
      );
    return out;
  } catch (error) {
    return [
      finding(false, 'error', `cannot compare the definitions with Feishu: ${describeError(error)}`, APPLY),
    ];
  } finally {
    await client.close().catch(() => undefined);
    await state.close().catch(() => undefined);
  }
}
