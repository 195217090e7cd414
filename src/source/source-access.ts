// Owns what the connector's role may do on the legacy database: REPLICATION, SELECT on each mapped
// table, and the publication over them (what is missing, and the SQL the connector would run to fix
// it itself). `doctor` reports this plan and `setup`/`run` carry it out, so the two always agree.
// Invariants: the connector never alters a publication it cannot alter (it names what is missing and
// the SQL for the DBA instead); it alters one only when its table list or operations differ, and
// only with the statements that need the least right (ADD TABLE for missing tables: SET TABLE would
// need ownership of every table in the list, even those already published).
import type pg from 'pg';
import { CdcError } from '../errors.js';
import { quoteTable, splitTable } from './catalog.js';

/** Something the role lacks, under the id `doctor` reports it by, with the SQL that grants it. */
export interface AccessProblem {
  id: string;
  problem: string;
  sql: string;
}

export interface PublicationPlan {
  /** Statements the connector runs itself (it may); empty when the publication is as needed. */
  statements: string[];
  /** What the connector may not fix: the DBA runs the SQL. */
  problems: AccessProblem[];
  /** Advice that needs no action to work (FOR ALL TABLES, tables published for nothing). */
  warnings: AccessProblem[];
  /** Whether the publication exists now. */
  exists: boolean;
}

export interface SourceAccess {
  role: string;
  superuser: boolean;
  /** REPLICATION (or superuser): needed to create and read the slot. */
  replication: boolean;
  /** Missing REPLICATION and SELECT (with schema USAGE), one problem each. */
  problems: AccessProblem[];
  publication: PublicationPlan;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const OPERATIONS = ['insert', 'update', 'delete'] as const;

interface TableFacts {
  table: string;
  qualified: string;
  exists: boolean;
  owner: string | null;
  owns: boolean;
  schemaUsage: boolean;
  select: boolean;
}

/** Reads what the current role may do on the source; changes nothing. */
export async function readSourceAccess(
  c: pg.ClientBase,
  publication: string,
  tables: readonly string[],
): Promise<SourceAccess> {
  const { rows: roleRows } = await c.query<{
    role: string;
    database: string;
    rolsuper: boolean;
    rolreplication: boolean;
    can_create: boolean;
  }>(
    `select current_user as role, current_database() as database, r.rolsuper, r.rolreplication,
       has_database_privilege(current_database(), 'CREATE') as can_create
     from pg_roles r where r.rolname = current_user`,
  );
  const r = roleRows[0];
  if (!r) throw new CdcError('SOURCE_SETUP', 'cannot read the current role from pg_roles');
  const role = r.role;
  const facts: TableFacts[] = [];
  for (const table of tables) {
    const { schema, name } = splitTable(table);
    const { rows } = await c.query<{
      owner: string;
      owns: boolean;
      schema_usage: boolean;
      can_select: boolean;
    }>(
      `select pg_get_userbyid(c.relowner) as owner, pg_has_role(current_user, c.relowner, 'USAGE') as owns,
         has_schema_privilege(n.oid, 'USAGE') as schema_usage, has_table_privilege(c.oid, 'SELECT') as can_select
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')`,
      [schema, name],
    );
    const t = rows[0];
    facts.push({
      table,
      qualified: `${schema}.${name}`,
      exists: t !== undefined,
      owner: t?.owner ?? null,
      owns: r.rolsuper || (t?.owns ?? false),
      schemaUsage: r.rolsuper || (t?.schema_usage ?? false),
      select: r.rolsuper || (t?.can_select ?? false),
    });
  }

  const problems: AccessProblem[] = [];
  const replication = r.rolsuper || r.rolreplication;
  if (!replication) {
    problems.push({
      id: 'replication-role',
      problem: `role ${role} has neither REPLICATION nor superuser: it cannot create or read a replication slot`,
      sql: `ALTER ROLE ${ident(role)} WITH REPLICATION;  -- on Amazon RDS/Aurora: GRANT rds_replication TO ${ident(role)};`,
    });
  }
  for (const t of facts) {
    if (!t.exists || (t.schemaUsage && t.select)) continue;
    const { schema } = splitTable(t.table);
    problems.push({
      id: `select:${t.table}`,
      problem: t.schemaUsage
        ? `role ${role} may not SELECT ${t.table}: the initial copy cannot read it`
        : `role ${role} has no USAGE on schema ${schema}, so it cannot read ${t.table}`,
      sql: `${t.schemaUsage ? '' : `GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(role)}; `}GRANT SELECT ON ${quoteTable(t.table)} TO ${ident(role)};`,
    });
  }
  const plan = await planPublication(c, publication, facts, {
    role,
    database: r.database,
    superuser: r.rolsuper,
    canCreate: r.rolsuper || r.can_create,
  });
  return { role, superuser: r.rolsuper, replication, problems, publication: plan };
}

async function planPublication(
  c: pg.ClientBase,
  publication: string,
  facts: readonly TableFacts[],
  me: { role: string; database: string; superuser: boolean; canCreate: boolean },
): Promise<PublicationPlan> {
  const pub = ident(publication);
  const existing = facts.filter((t) => t.exists);
  const listOf = (ts: readonly TableFacts[]) => ts.map((t) => quoteTable(t.table)).join(', ');
  const owners = (ts: readonly TableFacts[]) => [...new Set(ts.map((t) => t.owner ?? '?'))].join(', ');
  const { rows } = await c.query<{
    puballtables: boolean;
    pubinsert: boolean;
    pubupdate: boolean;
    pubdelete: boolean;
    owner: string;
    owns: boolean;
  }>(
    `select p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, pg_get_userbyid(p.pubowner) as owner,
       pg_has_role(current_user, p.pubowner, 'USAGE') as owns
     from pg_publication p where p.pubname = $1`,
    [publication],
  );
  const p = rows[0];
  const plan: PublicationPlan = { statements: [], problems: [], warnings: [], exists: p !== undefined };
  if (existing.length === 0) return plan;

  if (!p) {
    const create = `CREATE PUBLICATION ${pub} FOR TABLE ${listOf(existing)};`;
    const notOwned = existing.filter((t) => !t.owns);
    if (me.canCreate && notOwned.length === 0) {
      plan.statements.push(create);
    } else {
      const why = [
        ...(me.canCreate ? [] : [`CREATE on database ${me.database}`]),
        ...(notOwned.length > 0
          ? [`ownership of ${notOwned.map((t) => t.table).join(', ')} (owned by ${owners(notOwned)})`]
          : []),
      ];
      plan.problems.push({
        id: 'publication',
        problem: `publication ${publication} does not exist, and role ${me.role} may not create it: that needs ${why.join(' and ')}`,
        sql: `${create}  -- as the tables' owner (or a superuser), once`,
      });
    }
    return plan;
  }

  const ownsPub = me.superuser || p.owns;
  const unpublished = OPERATIONS.filter((op) => !p[`pub${op}`]);
  if (unpublished.length > 0) {
    const sql = `ALTER PUBLICATION ${pub} SET (publish = 'insert, update, delete, truncate');`;
    if (ownsPub) plan.statements.push(sql);
    else
      plan.problems.push({
        id: 'publication',
        problem: `publication ${publication} (owned by ${p.owner}) does not publish ${unpublished.join(', ')}`,
        sql: `${sql}  -- as ${p.owner}`,
      });
  }
  if (p.puballtables) {
    plan.warnings.push({
      id: 'publication-tables',
      problem: `publication ${publication} is FOR ALL TABLES: every table's changes are decoded and sent to the connector`,
      sql: `DROP PUBLICATION ${pub}; CREATE PUBLICATION ${pub} FOR TABLE ${listOf(existing)};`,
    });
    return plan;
  }
  const published = await c.query<{ t: string }>(
    `select schemaname || '.' || tablename as t from pg_publication_tables where pubname = $1`,
    [publication],
  );
  const have = new Set(published.rows.map((row) => row.t));
  const mapped = new Set(existing.map((t) => t.qualified));
  const missing = existing.filter((t) => !have.has(t.qualified));
  const extra = [...have].filter((t) => !mapped.has(t)).sort();
  if (missing.length > 0) {
    const add = `ALTER PUBLICATION ${pub} ADD TABLE ${listOf(missing)};`;
    const notOwned = missing.filter((t) => !t.owns);
    if (ownsPub && notOwned.length === 0) {
      plan.statements.push(add);
    } else {
      const who = ownsPub
        ? `only the owner of ${notOwned.map((t) => t.table).join(', ')} (${owners(notOwned)}) may add them`
        : `it is owned by ${p.owner}`;
      plan.problems.push({
        id: 'publication-tables',
        problem: `publication ${publication} lacks mapped table(s) ${missing.map((t) => t.table).join(', ')} (their changes would not be streamed), and role ${me.role} may not add them: ${who}`,
        sql: `${add}  -- as the tables' owner (or a superuser)`,
      });
    }
  }
  if (extra.length > 0) {
    const drop = `ALTER PUBLICATION ${pub} DROP TABLE ${extra.map(quoteTable).join(', ')};`;
    if (ownsPub) plan.statements.push(drop);
    else
      plan.warnings.push({
        id: 'publication-tables',
        problem: `publication ${publication} contains unmapped table(s) ${extra.join(', ')}: decoded and sent for nothing`,
        sql: `${drop}  -- as ${p.owner}`,
      });
  }
  return plan;
}

/** Everything that stops the connector, doctor's error findings among them. */
export function accessProblems(access: SourceAccess): AccessProblem[] {
  return [...access.problems, ...access.publication.problems];
}

/**
 * Checks the role's rights and makes the publication what the mappings need (running only the
 * statements the plan allows), before any slot exists. Throws SOURCE_PRIVILEGE naming every missing
 * right with the SQL that grants it.
 */
export async function ensureSourceAccess(
  c: pg.ClientBase,
  publication: string,
  tables: readonly string[],
): Promise<SourceAccess> {
  const access = await readSourceAccess(c, publication, tables);
  const problems = accessProblems(access);
  if (problems.length > 0) throw privilegeError(access.role, problems);
  for (const statement of access.publication.statements) await c.query(statement);
  return access;
}

export function privilegeError(role: string, problems: readonly AccessProblem[]): CdcError {
  const lines = problems.map((p) => `  - ${p.problem}\n      ${p.sql}`);
  return new CdcError(
    'SOURCE_PRIVILEGE',
    `role ${role} lacks what the connector needs on the legacy database (nothing was created):\n${lines.join('\n')}`,
    { details: { problems: problems.map((p) => ({ id: p.id, sql: p.sql })) } },
  );
}
