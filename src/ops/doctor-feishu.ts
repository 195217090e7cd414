// The Feishu checks of `approval-cdc doctor`: the app's credentials (a token), then whether every
// approval code the mappings can push names a definition Feishu knows
// (GET /open-apis/approval/v4/external_approvals/:approval_code). Invariant: read-only (no definition
// is created); an unanswered lookup is a warning, never a claim that the code is missing.
import type { Settings } from '../config/settings.js';
import { describeError } from '../errors.js';
import { FeishuClient } from '../feishu/feishu-client.js';
import type { MappingSet } from '../mapping/contract.js';
import { fail, pass, type Finding } from './doctor-finding.js';

export async function checkFeishu(s: Settings, mappings: MappingSet | null): Promise<Finding[]> {
  if (!s.feishuAppId || !s.feishuAppSecret) {
    return [
      fail(
        'feishu-credentials',
        'error',
        'Feishu app id or secret not set: `setup` and `run` refuse to start without them',
        'set APPROVAL_CDC_FEISHU_APP_ID and APPROVAL_CDC_FEISHU_APP_SECRET',
      ),
    ];
  }
  const client = new FeishuClient({
    baseUrl: s.feishuBaseUrl,
    appId: s.feishuAppId,
    appSecret: s.feishuAppSecret,
    requestTimeoutMs: s.requestTimeoutMs,
    connections: 1,
  });
  try {
    await client.verifyCredentials();
  } catch (error) {
    await client.close().catch(() => undefined);
    return [
      fail(
        'feishu-credentials',
        'error',
        `the credentials of Feishu app ${s.feishuAppId} could not be verified at ${s.feishuBaseUrl}: ${describeError(error)}`,
        'check APPROVAL_CDC_FEISHU_APP_ID, APPROVAL_CDC_FEISHU_APP_SECRET and APPROVAL_CDC_FEISHU_URL (Lark: https://open.larksuite.com)',
      ),
    ];
  }
  const findings = [pass('feishu-credentials', `Feishu accepted app ${s.feishuAppId} at ${s.feishuBaseUrl}`)];
  try {
    if (mappings?.approvalCodes)
      findings.push(...(await approvalCodeChecks(client, mappings.approvalCodes())));
  } finally {
    await client.close().catch(() => undefined);
  }
  return findings;
}

/** Every approval code the mappings can push must name a definition Feishu knows (else 1390002). */
async function approvalCodeChecks(
  client: FeishuClient,
  { codes, computed }: { codes: string[]; computed: string[] },
): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const code of codes) {
    const id = `approval-code:${code}`;
    try {
      findings.push(
        (await client.approvalExists(code))
          ? pass(id, `Feishu knows approval definition ${code}`)
          : fail(
              id,
              'error',
              `approval_code ${code} does not exist in Feishu: every instance pushed with it would be parked (1390002/1390001 approval_code not found)`,
              'create the definition first (README, "Approval definitions in Feishu"), and use the approval_code Feishu answers with in the mapping',
            ),
      );
    } catch (error) {
      findings.push(
        fail(
          id,
          'warn',
          `could not ask Feishu whether approval definition ${code} exists: ${describeError(error)}`,
          'grant the app the approval:approval:readonly (or approval:external_approval) scope, then run doctor again',
        ),
      );
    }
  }
  if (computed.length > 0) {
    findings.push(
      fail(
        'approval-codes',
        'warn',
        `mapping(s) ${computed.join(', ')} compute approval_code from row data: doctor cannot list (so cannot check) every code they push`,
        'make sure each definition those rows can name exists in Feishu; a push with an unknown code is parked',
      ),
    );
  }
  return findings;
}
