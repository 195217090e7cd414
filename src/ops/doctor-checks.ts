// The checks of `approval-cdc doctor`: whether the legacy server, the mapped tables, the publication,
// the slot, the state database and the Feishu app are fit for the connector, each finding with the
// SQL or setting that fixes it. Invariant: read-only everywhere (no DDL, no slot or publication is
// created); a check that cannot run becomes a finding, never an exception, so one broken part does
// not hide what is wrong with the others.
import pg from 'pg';
import type { Settings } from '../config/settings.js';
import { CdcError, describeError } from '../errors.js';
import type { MappingSet, TableUse } from '../mapping/contract.js';
import { CheckpointStore, type Checkpoint } from '../replica/checkpoint-store.js';
import { locateStateStore, openStateOf, type StateLocation } from '../replica/state-store.js';
import { quoteTable, splitTable } from '../source/catalog.js';
import { catalogProblems } from '../source/catalog-check.js';
import { readSlot } from '../source/slot-admin.js';
import { definitionFindings } from './doctor-definitions.js';
import { readSourceAccess, type AccessProblem, type SourceAccess } from '../source/source-access.js';
import { checkFeishu } from './doctor-feishu.js';
import { stateWalFindings } from './doctor-state-wal.js';
import { fail, pass, type Finding, type Severity } from './doctor-finding.js';
import { redactUrls } from '../core/logger.js';

export interface DoctorOptions {
  settings: Settings;
  /** The loaded mappings, or why they could not be loaded (table checks are then skipped). */
  mappings: MappingSet | { error: string };
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const list = (items: readonly string[]) => items.join(', ');

/** 1 when any finding is a failed error-severity check, else 0: the exit code of `doctor`. */
export function doctorExitCode(findings: readonly Finding[]): number {
  return findings.some((f) => !f.ok && f.severity === 'error') ? 1 : 0;
}

export type { Finding, Severity };

export async function runDoctorChecks(o: DoctorOptions): Promise<Finding[]> {
  const s = o.settings;
  const findings: Finding[] = [];
  const mappings = 'error' in o.mappings ? null : o.mappings;
  if (mappings) {
    findings.push(
      pass(
        'mappings',
        `${mappings.mappingNames.length} mapping(s) over ${mappings.tables.size} table(s) loaded from ${s.mappings}`,
      ),
    );
  } else {
    findings.push(
      fail(
        'mappings',
        'error',
        `mappings in ${s.mappings} cannot be loaded: ${'error' in o.mappings ? o.mappings.error : ''}`,
        'correct the mapping files as the message says (APPROVAL_CDC_MAPPINGS / --mappings names them)',
      ),
    );
  }

  // Read first: the slot check needs the checkpoint; its findings are listed after the source's.
  const state = await checkState(s);

  const source = new pg.Client({ connectionString: s.sourceUrl, application_name: 'approval-cdc-doctor' });
  source.on('error', () => undefined);
  try {
    await source.connect();
  } catch (error) {
    findings.push(
      fail(
        'source-connect',
        'error',
        `cannot connect to the source database: ${redactUrls(describeError(error))}`,
        'check APPROVAL_CDC_SOURCE_URL, the network path and pg_hba.conf on the legacy server',
      ),
    );
    findings.push(...state.findings, ...(await checkFeishu(s, mappings)));
    return findings;
  }
  try {
    findings.push(pass('source-connect', 'the source database is reachable'));
    const server = await serverChecks(source, s);
    findings.push(...server.findings);
    if (mappings) {
      // The same located lines `run` refuses to start with (catalog-check.ts).
      const located = await catalogProblems(source, mappings);
      const linesOf = (table: string) => located.filter((p) => p.table === table).map((p) => p.message);
      for (const use of mappings.tables.values())
        findings.push(...(await tableChecks(source, use, linesOf(use.table))));
      const tables = [...mappings.tables.keys()];
      findings.push(
        ...accessFindings(
          await readSourceAccess(source, s.publicationName, tables),
          tables,
          s.publicationName,
        ),
      );
    }
    findings.push(...(await slotChecks(source, s.slotName, state.checkpoint)));
    if (state.location) findings.push(...(await stateWalFindings(source, state.location, mappings)));
  } catch (error) {
    findings.push(
      fail(
        'source-catalog',
        'error',
        `reading the source catalog failed: ${describeError(error)}`,
        'check that the role may read pg_catalog views (pg_replication_slots, pg_publication)',
      ),
    );
  } finally {
    await source.end().catch(() => undefined);
  }
  findings.push(
    ...state.findings,
    ...(await checkFeishu(s, mappings)),
    ...(await definitionFindings(s, mappings)),
  );
  return findings;
}

interface ServerFacts {
  findings: Finding[];
}

async function serverChecks(c: pg.ClientBase, s: Settings): Promise<ServerFacts> {
  const { rows } = await c.query<{
    wal_level: string;
    max_slots: number;
    max_senders: number;
    keep_mb: string;
    used_slots: number;
    used_senders: number;
    own_slot: boolean;
    own_active: boolean;
  }>(
    `select current_setting('wal_level') as wal_level,
       current_setting('max_replication_slots')::int as max_slots,
       current_setting('max_wal_senders')::int as max_senders,
       (select setting from pg_settings where name = 'max_slot_wal_keep_size')::bigint as keep_mb,
       (select count(*) from pg_replication_slots)::int as used_slots,
       (select count(*) from pg_stat_activity where backend_type = 'walsender')::int as used_senders,
       exists (select 1 from pg_replication_slots where slot_name = $1 and database = current_database()) as own_slot,
       exists (select 1 from pg_replication_slots where slot_name = $1 and active) as own_active`,
    [s.slotName],
  );
  const r = rows[0];
  if (!r) throw new CdcError('INTERNAL', 'the server settings query returned no row');
  const findings: Finding[] = [];
  findings.push(
    r.wal_level === 'logical'
      ? pass('wal_level', 'wal_level = logical')
      : fail(
          'wal_level',
          'error',
          `wal_level = ${r.wal_level}: logical decoding needs wal_level = logical`,
          'ALTER SYSTEM SET wal_level = logical;  -- then restart the server (a reload is not enough)',
        ),
  );
  findings.push(
    r.own_slot || r.used_slots < r.max_slots
      ? pass(
          'max_replication_slots',
          `${r.used_slots} of max_replication_slots = ${r.max_slots} in use${r.own_slot ? ', ours among them' : ''}`,
        )
      : fail(
          'max_replication_slots',
          'error',
          `all ${r.max_slots} replication slots are in use; the connector needs one`,
          `ALTER SYSTEM SET max_replication_slots = ${r.max_slots + 1};  -- then restart; or drop an unused slot: SELECT pg_drop_replication_slot('<name>');`,
        ),
  );
  // The connector streams over one walsender and setup exports its snapshot over another.
  const senders = r.own_active ? r.used_senders : r.used_senders + 1;
  findings.push(
    senders <= r.max_senders
      ? pass('max_wal_senders', `${r.used_senders} of max_wal_senders = ${r.max_senders} in use`)
      : fail(
          'max_wal_senders',
          'error',
          `${r.used_senders} of max_wal_senders = ${r.max_senders} in use: no room for the connector's walsender`,
          `ALTER SYSTEM SET max_wal_senders = ${r.max_senders + 2};  -- then restart`,
        ),
  );
  const keepMb = Number(r.keep_mb);
  findings.push(
    keepMb < 0
      ? fail(
          'max_slot_wal_keep_size',
          'warn',
          "max_slot_wal_keep_size = -1 (unlimited): a stuck or abandoned slot keeps WAL until the legacy server's disk is full",
          "ALTER SYSTEM SET max_slot_wal_keep_size = '10GB'; SELECT pg_reload_conf();  -- and alert on approval_cdc_slot_safe_wal_size_bytes",
        )
      : pass(
          'max_slot_wal_keep_size',
          `max_slot_wal_keep_size = ${keepMb} MB: past it the slot is lost (setup --resnapshot recovers); alert on approval_cdc_slot_safe_wal_size_bytes`,
        ),
  );
  return {
    findings,
  };
}

async function tableChecks(c: pg.ClientBase, use: TableUse, located: readonly string[]): Promise<Finding[]> {
  const where = located.length > 0 ? `\n${located.join('\n')}` : '';
  const { schema, name } = splitTable(use.table);
  const q = quoteTable(use.table);
  const { rows } = await c.query<{
    relreplident: string;
    schema_usage: boolean;
    can_select: boolean;
    columns: string[];
    pk: string[];
    ident_index: string[];
  }>(
    `select c.relreplident,
       has_schema_privilege(n.oid, 'USAGE') as schema_usage,
       has_table_privilege(c.oid, 'SELECT') as can_select,
       array(select a.attname::text from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
       array(select a.attname::text from pg_index i cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             where i.indrelid = c.oid and i.indisprimary order by k.ord) as pk,
       array(select a.attname::text from pg_index i cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             where i.indrelid = c.oid and i.indisreplident order by k.ord) as ident_index
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')`,
    [schema, name],
  );
  const t = rows[0];
  if (!t) {
    return [
      fail(
        `table:${use.table}`,
        'error',
        `mapped table ${use.table} does not exist in the source database${where}`,
        `create ${q}, or correct the table name in the mapping`,
      ),
    ];
  }
  const findings: Finding[] = [];
  const present = new Set<string>(t.columns);
  const needed = [...new Set([...use.columns, ...(use.keyColumns ?? [])])];
  const missing = needed.filter((col) => !present.has(col));
  findings.push(
    missing.length === 0
      ? pass(`table:${use.table}`, `${use.table} has the ${needed.length} column(s) the mappings read`)
      : fail(
          `table:${use.table}`,
          'error',
          `${use.table} lacks column(s) the mappings read: ${list(missing)}${where}`,
          `correct the column names in the mapping, or ALTER TABLE ${q} ADD COLUMN …`,
        ),
  );
  findings.push(replicaIdentity(use, q, t.relreplident, t.pk, t.ident_index, t.columns));
  return findings;
}

function replicaIdentity(
  use: TableUse,
  q: string,
  mode: string,
  pk: string[],
  index: string[],
  all: string[],
): Finding {
  const id = `replica-identity:${use.table}`;
  // With no usable identity, Postgres rejects UPDATE and DELETE on a published table: the legacy
  // application itself would start failing, which is worse than any lag.
  const breaks = 'once the table is published, UPDATE and DELETE on it fail in the legacy application';
  const fullOrPk = `ALTER TABLE ${q} REPLICA IDENTITY FULL;  -- or add a primary key: ALTER TABLE ${q} ADD PRIMARY KEY (…);`;
  let identity: string[];
  if (mode === 'n') {
    return fail(
      id,
      'error',
      `${use.table} has REPLICA IDENTITY NOTHING: ${breaks}, and deletes could not be replicated`,
      pk.length > 0 ? `ALTER TABLE ${q} REPLICA IDENTITY DEFAULT;` : fullOrPk,
    );
  } else if (mode === 'd') {
    if (pk.length === 0) {
      return fail(
        id,
        'error',
        `${use.table} has REPLICA IDENTITY DEFAULT but no primary key: ${breaks}`,
        fullOrPk,
      );
    }
    identity = pk;
  } else if (mode === 'i') {
    identity = index;
  } else {
    identity = all;
  }
  const label =
    mode === 'd'
      ? `DEFAULT (primary key ${list(pk)})`
      : mode === 'i'
        ? `USING INDEX (${list(index)})`
        : 'FULL';
  const key = use.keyColumns && use.keyColumns.length > 0 ? use.keyColumns : pk;
  const lacking = key.filter((col) => !identity.includes(col));
  if (key.length === 0) {
    return fail(
      id,
      'error',
      `${use.table} has REPLICA IDENTITY ${label} but neither a primary key nor key columns in its mapping: rows cannot be told apart`,
      `declare the row key of ${use.table} in its mapping, or ALTER TABLE ${q} ADD PRIMARY KEY (…);`,
    );
  }
  if (lacking.length > 0) {
    return fail(
      id,
      'error',
      `${use.table} has REPLICA IDENTITY ${label}, so a DELETE carries only those columns, but the mapping keys rows by (${list(key)})`,
      `ALTER TABLE ${q} REPLICA IDENTITY FULL;  -- or key the mapping by the primary key`,
    );
  }
  const cost = mode === 'f' ? ' (every UPDATE logs the whole old row: more WAL)' : '';
  return pass(id, `${use.table} has REPLICA IDENTITY ${label}${cost}`);
}

/** The findings of the rights and publication plan setup and run carry out (source-access.ts). */
function accessFindings(access: SourceAccess, tables: readonly string[], publication: string): Finding[] {
  const findings: Finding[] = [];
  const problem = (p: AccessProblem, severity: Severity) => fail(p.id, severity, p.problem, p.sql);
  const byId = (id: string) => access.problems.find((p) => p.id === id);
  const replication = byId('replication-role');
  findings.push(
    replication
      ? problem(replication, 'error')
      : pass(
          'replication-role',
          `role ${access.role} ${access.superuser ? 'is superuser' : 'has REPLICATION'}`,
        ),
  );
  for (const table of tables) {
    const select = byId(`select:${table}`);
    if (select) findings.push(problem(select, 'error'));
    else findings.push(pass(`select:${table}`, `role ${access.role} may SELECT ${table}`));
  }
  const plan = access.publication;
  // A publication not made yet gets every mapped table when it is: only its creation is a finding.
  for (const id of plan.exists ? ['publication', 'publication-tables'] : ['publication']) {
    const blocking = plan.problems.filter((p) => p.id === id);
    const warnings = plan.warnings.filter((p) => p.id === id);
    const own = plan.statements.filter((sql) =>
      id === 'publication' ? !/ (ADD|DROP) TABLE /.test(sql) : / (ADD|DROP) TABLE /.test(sql),
    );
    if (blocking.length > 0) findings.push(...blocking.map((p) => problem(p, 'error')));
    else if (own.length > 0)
      findings.push(
        fail(
          id,
          'info',
          `setup (or the first run) will run, as role ${access.role} may: ${own.join(' ')}`,
          'approval-cdc setup',
        ),
      );
    else if (warnings.length > 0) findings.push(...warnings.map((p) => problem(p, 'warn')));
    else
      findings.push(
        pass(
          id,
          id === 'publication'
            ? `publication ${publication} exists and publishes insert, update, delete`
            : `publication ${publication} contains every mapped table`,
        ),
      );
  }
  return findings;
}

async function slotChecks(c: pg.ClientBase, name: string, checkpoint: Checkpoint | null): Promise<Finding[]> {
  const slot = await readSlot(c, name);
  const lit = `'${name}'`;
  if (!slot) {
    const elsewhere = await c.query<{ database: string }>(
      'select database from pg_replication_slots where slot_name = $1',
      [name],
    );
    const other = elsewhere.rows[0]?.database;
    if (other) {
      return [
        fail(
          'slot',
          'error',
          `slot ${name} belongs to database ${other}, not this one`,
          `set APPROVAL_CDC_SLOT to another name, or (connected to ${other}) SELECT pg_drop_replication_slot(${lit});`,
        ),
      ];
    }
    if (checkpoint?.phase === 'streaming') {
      return [
        fail(
          'slot',
          'error',
          `slot ${name} is gone though the replica streamed from it: changes since then cannot be streamed`,
          'approval-cdc setup --resnapshot',
        ),
      ];
    }
    return [
      fail(
        'slot',
        'info',
        `slot ${name} does not exist yet; setup (or the first run) creates it with a snapshot`,
        'approval-cdc setup',
      ),
    ];
  }
  const findings: Finding[] = [];
  if (slot.plugin !== 'pgoutput') {
    findings.push(
      fail(
        'slot',
        'error',
        `slot ${name} uses plugin ${slot.plugin ?? '(physical)'}, not pgoutput`,
        `SELECT pg_drop_replication_slot(${lit});  -- then approval-cdc setup --resnapshot, or set APPROVAL_CDC_SLOT to another name`,
      ),
    );
  } else if (slot.walStatus === 'lost') {
    findings.push(
      fail(
        'slot',
        'error',
        `slot ${name} was invalidated (wal_status = lost): the WAL it needed is gone`,
        'approval-cdc setup --resnapshot',
      ),
    );
  } else if (!checkpoint) {
    findings.push(
      fail(
        'slot',
        'error',
        `slot ${name} exists but the state database has no checkpoint for it (another connector's slot, or a different state database?)`,
        `approval-cdc setup --resnapshot  -- or SELECT pg_drop_replication_slot(${lit}); if it is not ours`,
      ),
    );
  } else if (slot.walStatus === 'unreserved') {
    findings.push(
      fail(
        'slot',
        'warn',
        `slot ${name} is past max_slot_wal_keep_size (wal_status = unreserved): it is lost at the next checkpoint unless the connector catches up`,
        'start the connector (approval-cdc run) now, or raise max_slot_wal_keep_size',
      ),
    );
  } else {
    findings.push(
      pass(
        'slot',
        `slot ${name}: pgoutput, wal_status ${slot.walStatus ?? '-'}, ${slot.active ? `active (pid ${slot.activePid})` : 'inactive'}`,
      ),
    );
  }
  const safe = slot.safeWalSize === null ? 'unlimited' : `${slot.safeWalSize} bytes`;
  findings.push(
    pass(
      'slot-retained-wal',
      `slot ${name} retains ${slot.retainedBytes ?? 0n} bytes of WAL, lags ${slot.lagBytes ?? 0n} bytes; safe_wal_size ${safe}`,
    ),
  );
  return findings;
}

interface StateFacts {
  findings: Finding[];
  checkpoint: Checkpoint | null;
  location: StateLocation | null;
}

async function checkState(s: Settings): Promise<StateFacts> {
  let location: StateLocation;
  try {
    location = await locateStateStore(s);
  } catch (error) {
    const why = redactUrls(describeError(error));
    return {
      checkpoint: null,
      location: null,
      findings: [
        fail('state-db', 'error', why, 'check APPROVAL_CDC_SOURCE_URL or set APPROVAL_CDC_STATE_URL'),
      ],
    };
  }
  if (location.kind === 'embedded' && !location.initialised)
    return {
      checkpoint: null,
      location,
      findings: [pass('state-db', `state: ${location.description}, created by setup (or the first run)`)],
    };
  let state: Awaited<ReturnType<typeof openStateOf>> | undefined;
  try {
    // Doctor creates nothing: an embedded store is started if it is not running, never initialised.
    state = await openStateOf(s, { max: 1, applicationName: 'approval-cdc-doctor', create: false });
    const { rows } = await state.pool.query<{ t: string | null; can_create: boolean }>(
      `select to_regclass($1)::text as t, has_database_privilege(current_database(), 'CREATE') as can_create`,
      [`"${s.stateSchema}".checkpoint`],
    );
    const r = rows[0];
    if (!r?.t) {
      return {
        checkpoint: null,
        location,
        findings: [
          r?.can_create
            ? pass('state-db', `state database reachable; schema ${s.stateSchema} is created by setup`)
            : fail(
                'state-db',
                'error',
                `state database reachable, but schema ${s.stateSchema} does not exist and the role may not create it`,
                `CREATE SCHEMA ${ident(s.stateSchema)} AUTHORIZATION <connector role>;`,
              ),
        ],
      };
    }
    const checkpoint = await new CheckpointStore(state.db, s.stateSchema).read(s.slotName);
    const holds = checkpoint
      ? `holds the ${checkpoint.phase} checkpoint of slot ${s.slotName}`
      : 'has no checkpoint yet';
    return {
      checkpoint,
      location,
      findings: [pass('state-db', `state database reachable; schema ${s.stateSchema} ${holds}`)],
    };
  } catch (error) {
    const finding = fail(
      'state-db',
      'error',
      `state database unreachable: ${redactUrls(describeError(error))}`,
      location.kind === 'embedded'
        ? `the embedded store under ${s.stateDir} does not start: read ${s.stateDir}/postgres.log`
        : 'check APPROVAL_CDC_STATE_URL',
    );
    return { checkpoint: null, location, findings: [finding] };
  } finally {
    await state?.close();
  }
}
