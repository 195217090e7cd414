// Owns where the state database is, the one decision every command makes the same way: the URL of
// APPROVAL_CDC_STATE_URL when set; otherwise the embedded store under APPROVAL_CDC_STATE_DIR; except for
// an installation from before the embedded store, whose state schema is found in the legacy database
// and used there (with a warning) until it is moved. Invariant: with default settings on a new
// installation nothing of the connector's state is written into the legacy database.
import pg from 'pg';
import type { Settings } from '../config/settings.js';
import { CdcError } from '../errors.js';
import type { Logger } from '../core/logger.js';
import { embeddedInitialised, startEmbeddedState } from './embedded-state.js';
import { openStateDb, type StateConnection } from './state-db.js';

/**
 * embedded: the connector's own Postgres; external: a database elsewhere; source: the legacy database
 * itself (chosen by a STATE_URL naming it, or found there from an earlier version).
 */
export type StateStoreKind = 'embedded' | 'external' | 'source';

export interface StateLocation {
  kind: StateStoreKind;
  /** Why, in words, for logs and doctor. */
  description: string;
  /** The state schema was found in the legacy database without STATE_URL (an earlier version's setup). */
  inherited: boolean;
  /** embedded only: whether the store exists yet. */
  initialised: boolean;
}

export interface StateStore extends StateLocation {
  url: string;
  /** Releases the store (stops the embedded server this process owns); call after closing every pool. */
  close(): Promise<void>;
}

/** Whether two Postgres URLs name the same database on the same server (host, port, database). */
export function sameDatabase(a: string, b: string): boolean {
  const key = (text: string) => {
    const u = new URL(text);
    const host = u.searchParams.get('host') ?? u.hostname;
    const local = host === '' || host === 'localhost' || host === '127.0.0.1' || host === '::1';
    return `${local ? 'local' : host.toLowerCase()}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1))}`;
  };
  try {
    return key(a) === key(b);
  } catch {
    return false;
  }
}

/** Whether the legacy database holds a state schema (an installation from before the embedded store). */
async function legacyStateSchema(s: Settings): Promise<boolean> {
  const client = new pg.Client({ connectionString: s.sourceUrl, application_name: 'approval-cdc-locate' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    // The catalog, not to_regclass: it needs no USAGE on the schema.
    const { rowCount } = await client.query(
      `select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relname = 'checkpoint'`,
      [s.stateSchema],
    );
    return (rowCount ?? 0) > 0;
  } catch (cause) {
    throw new CdcError(
      'STATE_DB',
      `cannot reach the legacy database to see whether an earlier version keeps its state there (schema ${s.stateSchema}); the embedded store under ${s.stateDir} is created only once that is known. Set APPROVAL_CDC_STATE_URL to skip this check`,
      { cause },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Where the state is, without starting or creating anything (reads the legacy catalog at most). */
export async function locateStateStore(s: Settings): Promise<StateLocation> {
  if (s.stateUrl !== undefined) {
    const source = sameDatabase(s.stateUrl, s.sourceUrl);
    return {
      kind: source ? 'source' : 'external',
      description: source
        ? `schema ${s.stateSchema} in the legacy database (APPROVAL_CDC_STATE_URL names it)`
        : `schema ${s.stateSchema} in the database of APPROVAL_CDC_STATE_URL`,
      inherited: false,
      initialised: true,
    };
  }
  if (embeddedInitialised(s.stateDir))
    return {
      kind: 'embedded',
      description: `the embedded store under ${s.stateDir}`,
      inherited: false,
      initialised: true,
    };
  if (await legacyStateSchema(s))
    return {
      kind: 'source',
      description: `schema ${s.stateSchema} in the legacy database, made by an earlier version (see "Moving the state out of the legacy database" in the README)`,
      inherited: true,
      initialised: true,
    };
  return {
    kind: 'embedded',
    description: `the embedded store under ${s.stateDir}`,
    inherited: false,
    initialised: false,
  };
}

export interface OpenStateOptions {
  logger?: Logger;
  /** Create the embedded store if it does not exist (default true; doctor passes false). */
  create?: boolean;
  /** The daemon: stop at exit an embedded server it found running (see embedded-state.ts). */
  adopt?: boolean;
}

/** Opens the state store: the URL to connect to, with the embedded server started when it is the one. */
export async function openStateStore(s: Settings, o: OpenStateOptions = {}): Promise<StateStore> {
  const location = await locateStateStore(s);
  if (location.inherited)
    o.logger?.warn(
      { schema: s.stateSchema },
      `the state schema ${s.stateSchema} is in the legacy database (an earlier version put it there): every copied row and change writes WAL into the legacy server; move it out as the README says, or set APPROVAL_CDC_STATE_URL to the legacy database to keep it there on purpose`,
    );
  if (location.kind !== 'embedded') {
    const url = s.stateUrl ?? s.sourceUrl;
    return { ...location, url, close: async () => undefined };
  }
  const server = await startEmbeddedState(s.stateDir, {
    create: o.create ?? true,
    ...(o.adopt ? { adopt: true } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  });
  return { ...location, initialised: true, url: server.url, close: () => server.release() };
}

/**
 * The state database of a command: the store opened as above and a pool on it; close() ends the pool,
 * then releases the store.
 */
export async function openStateOf(
  s: Settings,
  o: OpenStateOptions & { max?: number; applicationName?: string } = {},
): Promise<StateConnection & { store: StateStore }> {
  const store = await openStateStore(s, o);
  const state = openStateDb(store.url, s.stateSchema, {
    ...(o.max !== undefined ? { max: o.max } : {}),
    ...(o.applicationName ? { applicationName: o.applicationName } : {}),
  });
  return {
    ...state,
    db: state.db,
    pool: state.pool,
    schema: state.schema,
    store,
    async close() {
      await state.close();
      await store.close();
    },
  };
}
