// What every handler of the fake Feishu shares: its context (state, tokens, rate windows, faults,
// quota, what it recorded), the counters and push records tests read, and the shape of an answer.
// Invariant: a handler reaches the fake's state only through this context, which fake-feishu.ts builds.
import type { PayloadLimits } from '../payload-schema.js';
import type { FakeBotMessages } from './bot-messages.js';
import type { FakeApprovals } from './approvals.js';
import type { FakeDirectory } from './directory.js';
import type { Faults } from './faults.js';
import type { RateWindows } from './rate-windows.js';
import type { FakeQuota } from './quota.js';
import type { FakeState } from './state.js';
import type { TokenStore } from './token-store.js';

export interface PushRecord {
  /** Fake clock time the push arrived. */
  at: number;
  instance_id?: string;
  update_time?: string;
  update_mode?: string;
  status?: string;
  accepted: boolean;
  /** HTTP status answered; 0 when the socket was reset instead. */
  httpStatus: number;
  code?: number;
  msg?: string;
}

export interface FakeCounters {
  requests: number;
  tokenRequests: number;
  tokensIssued: number;
  tooManyRequests: number;
  pushesAccepted: number;
  pushesRejected: number;
  checks: number;
  missingToken: number;
  invalidToken: number;
  missingScope: number;
  injectedErrors: number;
  injectedResets: number;
  tooSoon: number;
  batchGetId: number;
  /** Accepted pushes that changed nothing but update_time: budget spent on nothing users see. */
  identicalPushes: number;
}

export function emptyCounters(): FakeCounters {
  return {
    requests: 0,
    tokenRequests: 0,
    tokensIssued: 0,
    tooManyRequests: 0,
    pushesAccepted: 0,
    pushesRejected: 0,
    checks: 0,
    missingToken: 0,
    invalidToken: 0,
    missingScope: 0,
    injectedErrors: 0,
    injectedResets: 0,
    tooSoon: 0,
    batchGetId: 0,
    identicalPushes: 0,
  };
}

export interface FakeContext {
  appId: string;
  appSecret: string;
  scopes: ReadonlySet<string>;
  limits: Partial<PayloadLimits>;
  now: () => number;
  state: FakeState;
  tokens: TokenStore;
  rate: RateWindows;
  faults: Faults;
  pushes: PushRecord[];
  counters: FakeCounters;
  lastAccepted: Map<string, number>;
  messages: FakeBotMessages;
  approvals: FakeApprovals;
  directory: FakeDirectory;
  quota: FakeQuota;
  /** The fake's own http://host:port, for links it hands out. */
  origin: () => string;
  reset: () => void;
}

/** What a handler answers: a JSON body or a text, or a reset socket. */
export interface Outcome {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
}

/** The JSON of a request body, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
