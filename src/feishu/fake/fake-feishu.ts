// A fake Feishu Open API for tests, benchmarks and demos: a real HTTP server on 127.0.0.1 that is as
// strict as the reference says the real API is (validation, REPLACE/UPDATE, check, token expiry, rate
// windows) and that can be made to fail on demand, in-process or over /_fake/ HTTP endpoints.
// Invariant: the fake never accepts a payload the real API is documented to reject; payload rules come
// from payload-schema.ts, the same module the connector checks its payloads with.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PayloadLimits } from '../payload-schema.js';
import { FakeBotMessages } from './bot-messages.js';
import type { ActOptions, ActResult, CardView, FakeCard } from './bot-messages.js';
import { FakeApprovals } from './approvals.js';
import type { StoredApproval } from './approvals.js';
import { FakeDirectory, loadDirectoryFile } from './directory.js';
import type { DirectoryUser } from './directory.js';
import { Faults } from './faults.js';
import { FakeQuota } from './quota.js';
import type { FaultControl, FaultSettings } from './faults.js';
import { RateWindows } from './rate-windows.js';
import { handleRequest } from './server.js';
import { emptyCounters } from './fake-context.js';
import type { FakeContext, FakeCounters, PushRecord } from './fake-context.js';
import { FakeState } from './state.js';
import type { StoredInstance } from './state.js';
import { TokenStore } from './token-store.js';

export type { ActOptions, ActResult, CardView, FakeCard } from './bot-messages.js';
export type { FaultControl, FaultSettings } from './faults.js';
export type { FakeCounters, PushRecord } from './fake-context.js';
export type { StoredInstance } from './state.js';
export type { StoredApproval } from './approvals.js';
export type { DirectoryUser } from './directory.js';

export interface FakeFeishuOptions {
  port?: number;
  host?: string;
  appId?: string;
  appSecret?: string;
  perSecond?: number;
  perMinute?: number;
  /** Length of the window perMinute applies to (default 60 s; tests shorten it). */
  minuteWindowMs?: number;
  tokenTtlSeconds?: number;
  scopes?: readonly string[];
  /** Approval codes instances may reference besides those created through the API; '*' accepts any. */
  approvalCodes?: readonly string[] | '*';
  /** Payload limits, e.g. { maxTasks: 200 } to act like the Lark copy of the doc. */
  limits?: Partial<PayloadLimits>;
  /** Approval groups that exist before any definition is created: group_code -> group_name key. */
  groups?: Readonly<Record<string, string>>;
  /** The tenant's users, for contact batch_get_id (or `directoryFile`, a JSON array of them). */
  directory?: readonly DirectoryUser[];
  directoryFile?: string;
  /** Faults active from the start. */
  faults?: FaultSettings;
  now?: () => number;
}

export interface FakeFeishu {
  url: string;
  appId: string;
  appSecret: string;
  close(): Promise<void>;
  instances(): StoredInstance[];
  instance(id: string): StoredInstance | undefined;
  pushes(): PushRecord[];
  faults: FaultControl;
  readonly counters: Readonly<FakeCounters>;
  /** Approval bot cards sent so far (all users). */
  cards(): FakeCard[];
  card(messageId: string): FakeCard | undefined;
  /** One user's cards as their Feishu client shows them. */
  userView(userId: string): CardView[];
  /** Plays the user: clicks a button on a card, which POSTs the callback as Feishu would. */
  act(messageId: string, options: ActOptions): Promise<ActResult>;
  /** Definitions created through external_approvals, with both their codes. */
  approvals(): StoredApproval[];
  /** The tenant's users (replace() swaps them, as a directory change would). */
  directory: FakeDirectory;
  /** This month's counted calls; renew() starts a new month. */
  quota: FakeQuota;
  /** Forgets instances, created approvals, pushes, counters, quota use, rate windows and faults; tokens
   * and the directory stay. */
  reset(): void;
  /** Rotates the app secret (as in the developer console): tokens are issued only for the new one. */
  setAppSecret(secret: string): void;
}

export const DEFAULT_FAKE_SCOPES = [
  'approval:external_instance',
  'approval:external_approval',
  'approval:approval:readonly',
  'contact:user.id:readonly',
  'contact:user.employee_id:readonly',
] as const;

export async function startFakeFeishu(options: FakeFeishuOptions = {}): Promise<FakeFeishu> {
  const now = options.now ?? Date.now;
  const appId = options.appId ?? 'cli_fake_app';
  const appSecret = options.appSecret ?? 'fake_secret';
  const tokens = new TokenStore(options.tokenTtlSeconds ?? 7200, now);
  const faults = new Faults(() => tokens.expireAll(), options.faults);
  const rate = new RateWindows(
    [
      { windowMs: 1000, limit: options.perSecond ?? 50 },
      { windowMs: options.minuteWindowMs ?? 60_000, limit: options.perMinute ?? 1000 },
    ],
    now,
  );
  const state = new FakeState(options.approvalCodes ?? []);
  const approvals = new FakeApprovals(options.groups);
  const directory = new FakeDirectory(
    options.directoryFile === undefined
      ? (options.directory ?? [])
      : loadDirectoryFile(options.directoryFile),
  );
  const quota = new FakeQuota();
  let origin = '';
  const pushes: PushRecord[] = [];
  const counters = emptyCounters();
  const lastAccepted = new Map<string, number>();
  const messages = new FakeBotMessages(now);
  const ctx: FakeContext = {
    appId,
    appSecret,
    now,
    state,
    tokens,
    rate,
    faults,
    pushes,
    counters,
    lastAccepted,
    messages,
    approvals,
    directory,
    quota,
    origin: () => origin,
    scopes: new Set(options.scopes ?? DEFAULT_FAKE_SCOPES),
    limits: options.limits ?? {},
    reset: () => {
      state.clear();
      approvals.clear();
      quota.renew();
      pushes.length = 0;
      Object.assign(counters, emptyCounters());
      lastAccepted.clear();
      rate.clear();
      faults.clear();
      messages.clear();
    },
  };

  const server = createServer((req, res) => {
    handleRequest(ctx, req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`fake feishu internal error: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url: origin,
    appId,
    get appSecret() {
      return ctx.appSecret;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
    instances: () => state.instances(),
    instance: (id) => state.instance(id),
    pushes: () => pushes.map((p) => ({ ...p })),
    approvals: () => approvals.definitions(),
    directory,
    quota,
    faults,
    counters,
    cards: () => messages.cards(),
    card: (id) => messages.card(id),
    userView: (userId) => messages.viewOf(userId),
    act: (id, options) => messages.act(id, options),
    reset: ctx.reset,
    setAppSecret(secret) {
      ctx.appSecret = secret;
    },
  };
}
