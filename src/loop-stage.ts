// Wires the two stages that close the loop with Feishu (issue 18), for the composition root: the
// notifier (bot cards, planned after each accepted push), the callback endpoint with its intake, and
// the decision applier with its write-back. Invariants: nothing starts unless a mapping declares
// `notify` or `quick_approval`; the endpoint only listens when configured, with a token; on stop the
// endpoint closes first (no new decisions), then the applier and the notifier finish.
import pg from 'pg';
import type { Kysely } from 'kysely';
import type { Settings } from './config/settings.js';
import { CdcError } from './errors.js';
import type { FeishuClient } from './feishu/feishu-client.js';
import type { MappingSet } from './mapping/contract.js';
import type { Logger } from './core/logger.js';
import type { Metrics } from './observe/metrics.js';
import { LANE_LIVE } from './replica/instance-vocabulary.js';
import { MessageStore } from './notify/message-store.js';
import { Notifier } from './notify/notifier.js';
import { RateBudget } from './sync/rate-budget.js';
import { DEFAULT_RETRY_POLICY } from './sync/retry-policy.js';
import type { DirtyInstance } from './replica/instance-table.js';
import type { ExternalInstance } from './feishu/external-instance.js';
import { startCallbackServer, type CallbackServer } from './decisions/callback-server.js';
import { DecisionApplier } from './decisions/decision-applier.js';
import { DecisionIntake } from './decisions/decision-intake.js';
import { DecisionStore } from './decisions/decision-store.js';
import { ensureLedger, WriteBack } from './decisions/write-back.js';
import type { StateDb } from './replica/state-schema.js';

export interface LoopStage {
  readonly notifier: Notifier | null;
  readonly applier: DecisionApplier | null;
  /** The URL cards call back (null: no endpoint). */
  readonly callbackUrl: string | null;
  afterAccepted(instance: DirtyInstance, payload: ExternalInstance): Promise<void>;
  stop(): Promise<void>;
}

export interface LoopStageOptions {
  settings: Settings;
  mappings: MappingSet;
  db: Kysely<StateDb>;
  client: FeishuClient | null;
  logger: Logger;
  metrics: Metrics;
}

export async function startLoopStage(o: LoopStageOptions): Promise<LoopStage> {
  const { settings: s, mappings, logger } = o;
  const loops = mappings.mappingNames.map((n) => mappings.loopOf?.(n)).filter((l) => l !== undefined);
  const quick = loops.some((l) => l.quickApproval !== null);
  // Stopped in this order: the endpoint (no new decisions), the applier, the notifier, the pool.
  const cleanups: { order: number; run: () => Promise<void> }[] = [];
  const stop = async () => {
    for (const c of cleanups.splice(0).sort((a, b) => a.order - b.order))
      await c.run().catch(() => undefined);
  };
  try {
    let notifier: Notifier | null = null;
    let applier: DecisionApplier | null = null;
    let server: CallbackServer | null = null;

    // Quick approval runs when the endpoint is configured, or (without it) when the write-back is,
    // so `decisions retry` can still apply parked decisions.
    if (quick && (s.callbackAddress !== 'off' || s.writebackUrl)) {
      const needsSql = mappings.mappingNames.some(
        (n) => mappings.loopOf?.(n)?.quickApproval?.writeBack.kind === 'sql',
      );
      let pool: pg.Pool | null = null;
      if (needsSql) {
        if (!s.writebackUrl)
          throw new CdcError(
            'CONFIG_INVALID',
            'a mapping has an SQL write-back: APPROVAL_CDC_WRITEBACK_URL is required',
          );
        const wb = new pg.Pool({
          connectionString: s.writebackUrl,
          max: 2,
          application_name: 'approval-cdc-writeback',
        });
        wb.on('error', () => undefined);
        pool = wb;
        cleanups.push({ order: 4, run: () => wb.end() });
        const role = (await wb.query<{ r: string }>('select current_user as r')).rows[0]?.r ?? '';
        await ensureLedger(s.sourceUrl, s.writebackLedger, role);
      }
      const messages = new MessageStore(o.db, s.stateSchema);
      const decisions = new DecisionStore(o.db, s.stateSchema);
      const a = new DecisionApplier({
        db: o.db,
        schema: s.stateSchema,
        mappings,
        writeBack: new WriteBack(pool, s.writebackLedger, s.requestTimeoutMs),
        messages,
        logger,
        retry: DEFAULT_RETRY_POLICY,
        maxAttempts: s.decisionMaxAttempts,
        onCardClose: () => notifier?.wake(),
        onOutcome: (state) => o.metrics.decisions.inc({ state }),
      });
      applier = a;
      if (s.callbackAddress !== 'off') {
        if (!s.callbackToken)
          throw new CdcError(
            'CONFIG_INVALID',
            'APPROVAL_CDC_CALLBACK_TOKEN is required with a callback address',
          );
        const intake = new DecisionIntake({
          db: o.db,
          schema: s.stateSchema,
          mappings,
          decisions,
          messages,
          logger,
          onReceived: () => a.wake(),
          closeCard: async (id, status, text) => {
            await messages.requestClose(id, status, text);
            notifier?.wake();
          },
        });
        const started = await startCallbackServer({
          address: s.callbackAddress,
          path: s.callbackPath,
          token: s.callbackToken,
          ...(s.callbackEncryptKey ? { encryptKey: s.callbackEncryptKey } : {}),
          maxBytes: s.callbackMaxBytes,
          intake,
          logger,
          onAnswer: (status) => o.metrics.callbacks.inc({ status: String(status) }),
        });
        server = started;
        cleanups.push({ order: 1, run: () => started.close() });
        logger.info({ url: started.url }, 'quick-approval callback endpoint listening');
      } else {
        logger.warn(
          'quick_approval is declared but APPROVAL_CDC_CALLBACK_ADDRESS is off: cards carry no buttons',
        );
      }
    }

    if (o.client && loops.length > 0) {
      const client = o.client;
      const callbackUrl = s.callbackPublicUrl ?? server?.url ?? null;
      const n = new Notifier({
        db: o.db,
        schema: s.stateSchema,
        mappings,
        send: (body) => client.sendMessage(body),
        update: (body) => client.updateMessage(body),
        budget: new RateBudget({ perSecond: s.notifyPerSecond, perMinute: s.notifyPerMinute }),
        retry: DEFAULT_RETRY_POLICY,
        logger,
        callback:
          callbackUrl && s.callbackToken
            ? {
                url: callbackUrl,
                token: s.callbackToken,
                ...(s.callbackEncryptKey ? { encryptKey: s.callbackEncryptKey } : {}),
              }
            : null,
        onOutcome: (kind) => o.metrics.botMessages.inc({ result: kind }),
      });
      notifier = n;
      n.start();
      cleanups.push({ order: 3, run: () => n.stop() });
    }
    if (applier) {
      const a = applier;
      a.start();
      cleanups.push({ order: 2, run: () => a.stop() });
    }
    const n = notifier;
    return {
      notifier,
      applier,
      callbackUrl: s.callbackPublicUrl ?? server?.url ?? null,
      afterAccepted: async (instance, payload) => {
        await n?.plan(instance.ref.mapping, payload, instance.lane === LANE_LIVE);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
