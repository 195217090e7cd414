// Connects to Feishu before anything is created: the credentials are checked with a token request,
// so `setup` and `run` stop on a wrong secret before a slot retains WAL. Invariant: refused
// credentials always throw; Feishu down throws only unless the caller tolerates an outage.
import type { Settings } from './config/settings.js';
import type { Logger } from './core/logger.js';
import { CdcError, isFeishuError } from './errors.js';
import { FeishuClient } from './feishu/feishu-client.js';

/**
 * A Feishu client whose credentials Feishu has just accepted (a token was issued); CONFIG_INVALID
 * when they are not set, FEISHU_TOKEN when Feishu refuses them (or, unless `tolerateOutage`, does not
 * answer). `setup` and `run` call it before they create anything.
 */
export async function connectFeishu(
  s: Settings,
  options: {
    onTokenRenew?: () => void;
    onCountedCall?: () => void;
    tolerateOutage?: boolean;
    onOutage?: (error: unknown) => void;
    logger?: Logger;
  } = {},
): Promise<FeishuClient> {
  if (!s.feishuAppId || !s.feishuAppSecret) {
    throw new CdcError(
      'CONFIG_INVALID',
      'APPROVAL_CDC_FEISHU_APP_ID and APPROVAL_CDC_FEISHU_APP_SECRET are required (checked before the slot is created)',
    );
  }
  const client = new FeishuClient({
    baseUrl: s.feishuBaseUrl,
    appId: s.feishuAppId,
    appSecret: s.feishuAppSecret,
    requestTimeoutMs: s.requestTimeoutMs,
    connections: s.syncConcurrency,
    ...(options.onTokenRenew ? { onTokenRenew: options.onTokenRenew } : {}),
    ...(options.onCountedCall ? { onCountedCall: options.onCountedCall } : {}),
  });
  try {
    await client.verifyCredentials();
  } catch (error) {
    // Refused credentials stop here. Feishu down or unreachable does not: a restart during an outage
    // must keep the stream (and the slot's WAL) moving; the sync stage retries the token then.
    const refused =
      !(error instanceof CdcError) || (isFeishuError(error) && error.details.disposition === 'stop');
    if (refused || !options.tolerateOutage) {
      await client.close().catch(() => undefined);
      throw error;
    }
    options.logger?.warn(
      { err: error },
      'Feishu did not answer the token request; starting anyway, pushes wait for it',
    );
    options.onOutage?.(error);
  }
  return client;
}
