// Real roles on the test server for least-privilege tests, as the README's "Least privilege on the
// legacy database" sets them up: the application's role owning the mapped tables, and the
// connector's login role with only the grants a test gives it. Roles are cluster-wide, so their names
// carry a random suffix and each file drops its own.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The tables the legacy mappings read. */
export const MAPPED_TABLES = ['oa.users', 'oa.requests', 'oa.steps', 'oa.cc'] as const;

export interface LegacyRoles {
  /** The application's role (NOLOGIN), owner of the tables. */
  app: string;
  /** The connector's login role (password `cdc`). */
  cdc: string;
}

/** Runs `text` (one or more statements) on `url` over a connection of its own. */
export async function exec(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** Creates the two roles on the server of `adminUrl` (the connector's with REPLICATION if asked). */
export async function createLegacyRoles(
  adminUrl: string,
  prefix: string,
  o: { replication?: boolean } = {},
): Promise<LegacyRoles> {
  const suffix = randomBytes(4).toString('hex');
  const roles = { app: `app_${prefix}_${suffix}`, cdc: `cdc_${prefix}_${suffix}` };
  await exec(
    adminUrl,
    `create role ${roles.app} nologin;
     create role ${roles.cdc} login password 'cdc'${o.replication ? ' replication' : ''};`,
  );
  return roles;
}

/** Drops the roles (after the databases holding their grants and objects are gone). */
export async function dropLegacyRoles(adminUrl: string, roles: LegacyRoles): Promise<void> {
  await exec(adminUrl, `drop role if exists ${roles.cdc}; drop role if exists ${roles.app}`);
}

/** `url` as the connector's role. */
export function asConnectorRole(url: string, roles: LegacyRoles): string {
  const u = new URL(url);
  u.username = roles.cdc;
  u.password = 'cdc';
  return u.toString();
}

/** Gives `tables` (the mapped ones by default) to the application's role. */
export function ownTablesSql(roles: LegacyRoles, tables: readonly string[] = MAPPED_TABLES): string {
  return tables.map((t) => `alter table ${t} owner to ${roles.app};`).join('\n');
}

export interface ConnectorGrants {
  /** REPLICATION on (true) or off (false); unchanged when absent. */
  replication?: boolean;
  /** Tables the role may SELECT; the mapped ones when absent. */
  select?: readonly string[];
  /** Membership in the application's role (SELECT and ownership of its tables). */
  memberOfApp?: boolean;
  /** CREATE on this database (to create a publication). */
  createOn?: string;
  /** A publication the DBA makes, over these tables. */
  publication?: { name: string; tables: readonly string[]; ownedByConnector?: boolean };
}

/** The SQL of one setup: USAGE on schema oa always, the rest as `g` says. */
export function connectorGrantsSql(roles: LegacyRoles, g: ConnectorGrants): string {
  const { cdc } = roles;
  const select = g.select ?? MAPPED_TABLES;
  return [
    g.replication === undefined ? '' : `alter role ${cdc} with ${g.replication ? '' : 'no'}replication;`,
    g.memberOfApp ? `grant ${roles.app} to ${cdc};` : '',
    `grant usage on schema oa to ${cdc};`,
    select.length > 0 ? `grant select on ${select.join(', ')} to ${cdc};` : '',
    g.createOn ? `grant create on database "${g.createOn}" to ${cdc};` : '',
    g.publication
      ? `create publication "${g.publication.name}" for table ${g.publication.tables.join(', ')};`
      : '',
    g.publication?.ownedByConnector ? `alter publication "${g.publication.name}" owner to ${cdc};` : '',
  ]
    .filter((s) => s !== '')
    .join('\n');
}
