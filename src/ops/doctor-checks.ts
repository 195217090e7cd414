// The checks of `approval-cdc doctor`: whether the legacy server, the mapped tables, the publication,
// the slot, the state database and the Feishu app are fit for the connector, each finding with the
// SQL or setting that fixes it. Invariant: read-only everywhere (no DDL, no slot or publication is
// created); a check that cannot run becomes a finding, never an exception, so one broken part does
// not hide what is wrong with the others.
import pg from 'pg';
import type { Settings } from '../config/settings.js';
import { CdcError, describeError } from '../errors.js';
import type { MappingSet } from '../mapping/contract.js';
import { CheckpointStore, type Checkpoint } from '../replica/checkpoint-store.js';
import { locateStateStore, openStateOf, type StateLocation } from '../replica/state-store.js';
import { catalogProblems } from '../source/catalog-check.js';
import { definitionFindings } from './doctor-definitions.js';
import { readSourceAccess, type AccessProblem, type SourceAccess } from '../source/source-access.js';
import { checkFeishu } from './doctor-feishu.js';
import { stateWalFindings } from './doctor-state-wal.js';
import { tableChecks } from './doctor-tables.js';
import { slotChecks } from './doctor-slot.js';
import { fail, pass, type Finding, type Severity } from './doctor-finding.js';
import { redactUrls } from '../core/logger.js';

export interface DoctorOptions {
  settings: Settings;
  /** The loaded mappings, or why they could not be loaded (table checks are then skipped). */
  mappings: MappingSet | { error: string };
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

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
