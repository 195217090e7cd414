// `approval-cdc mappings check [files...]` and `approval-cdc mappings preview <instance>`: validate
// mapping files, and print the exact payload the connector would push for one instance.
// Invariants: `check` needs no setting but the mapping path (so it runs in CI with no environment at
// all); when a source URL is configured it also checks every table and column the mappings name
// against that database's catalog (read-only), and says so when it cannot; `preview` only reads (the replica, or with --live the source tables)
// and writes nothing anywhere: it never migrates, never creates a slot, never pushes.
import pg from 'pg';
import { loadSettings, SETTINGS_TABLE, type Settings } from '../config/settings.js';
import { CdcError, describeError } from '../errors.js';
import type { InstanceRef } from '../mapping/contract.js';
import { describeMapping } from '../mapping/describe-mapping.js';
import { checkAndLoadMappingFiles, formatProblems, loadMappings } from '../mapping/mapping-loader.js';
import type { CompiledMappingSet } from '../mapping/mapping-set.js';
import { InstanceTable } from '../replica/instance-table.js';
import { instanceIdOf } from '../replica/instance-vocabulary.js';
import { loadInstanceRows } from '../replica/row-loader.js';
import { openStateOf } from '../replica/state-store.js';
import { catalogProblems, type CatalogProblem } from '../source/catalog-check.js';
import { loadInstanceRowsLive } from '../source/live-rows.js';
import { redactUrls } from '../core/logger.js';
import { previewOf, type PreviewResult } from '../sync/payload-preview.js';
import { commandContext, type GlobalFlags } from './context.js';

/** Where a command writes; process.stdout / process.stderr by default. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: Output = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/**
 * The configured mapping path without the rest of the settings: --mappings, else the config file's
 * or APPROVAL_CDC_MAPPINGS, else the default. The source URL is not needed offline, so a placeholder
 * stands in for it; no other setting is read.
 */
function configuredMappingsPath(flags: GlobalFlags): string {
  const envName = SETTINGS_TABLE.mappings.env;
  return loadSettings({
    env: { [envName]: process.env[envName] },
    ...(flags.config ? { file: flags.config } : {}),
    overrides: { sourceUrl: 'postgres://offline.invalid/unused', mappings: flags.mappings },
  }).mappings;
}

export async function mappingsCheckCommand(
  flags: GlobalFlags & { files?: readonly string[] },
  io: Output = STDIO,
): Promise<number> {
  let paths: readonly string[];
  try {
    paths = flags.files && flags.files.length > 0 ? flags.files : [configuredMappingsPath(flags)];
  } catch (error) {
    io.err(`mappings check: ${describeError(error)}\n`);
    return 1;
  }
  const result = checkAndLoadMappingFiles(paths);
  if (!result.ok || !result.set) {
    io.err(`${formatProblems(result.errors)}\n`);
    return 1;
  }
  const set = result.set;
  const live = await liveCatalogProblems(flags, set);
  if (live.problems.length > 0) {
    io.err(`${formatProblems(live.problems)}\n`);
    return 1;
  }
  if (live.note) io.err(`${live.note}\n`);
  for (const name of set.mappingNames) {
    const m = set.mapping(name);
    if (m) io.out(`${describeMapping(m)}\n`);
  }
  return 0;
}

/** The catalog problems of `set` when a source database is configured and reachable, else a note why not. */
async function liveCatalogProblems(
  flags: GlobalFlags,
  set: CompiledMappingSet,
): Promise<{ problems: CatalogProblem[]; note?: string }> {
  const envName = SETTINGS_TABLE.sourceUrl.env;
  let sourceUrl: string;
  try {
    if (!process.env[envName] && !flags.config) return { problems: [] };
    sourceUrl = loadSettings({
      env: { [envName]: process.env[envName] },
      ...(flags.config ? { file: flags.config } : {}),
      overrides: { mappings: flags.mappings },
    }).sourceUrl;
  } catch {
    return { problems: [] };
  }
  const client = new pg.Client({ connectionString: sourceUrl, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return { problems: await catalogProblems(client, set) };
  } catch (error) {
    return {
      problems: [],
      note: `columns not checked against the source catalog: ${redactUrls(describeError(error))}`,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface PreviewFlags extends GlobalFlags {
  /** The external instance id, or with `mapping` the instance key values (comma-separated). */
  instance: string;
  mapping?: string;
  live?: boolean;
}

export async function mappingsPreviewCommand(flags: PreviewFlags, io: Output = STDIO): Promise<number> {
  let result: PreviewResult;
  let logger: { flush(): void } | undefined;
  try {
    const context = commandContext(flags);
    logger = context.logger;
    const { settings } = context;
    const mappings = loadMappings(settings.mappings);
    result = flags.live
      ? await previewLive(settings.sourceUrl, mappings, flags)
      : await previewFromReplica(settings, mappings, flags);
  } catch (error) {
    io.err(`mappings preview: ${describeError(error)}\n`);
    return 1;
  } finally {
    logger?.flush();
  }
  switch (result.kind) {
    case 'payload':
      io.out(`${JSON.stringify(result.payload, null, 2)}\n`);
      if (result.violations.length === 0) return 0;
      io.err(`over Feishu's limits, the connector would park it: ${result.violations.join('; ')}\n`);
      return 1;
    case 'absent':
      io.err(`absent: ${result.what}\n`);
      return 1;
    case 'unmappable':
      io.err(`unmappable: ${result.reason}\n`);
      return 1;
  }
}

/** The ref named by --mapping and key values (comma-separated for composite keys). */
function refOfKey(mappings: CompiledMappingSet, name: string, keyText: string): InstanceRef {
  const m = mappings.mapping(name);
  if (!m) {
    throw new CdcError(
      'CONFIG_INVALID',
      `no mapping named ${JSON.stringify(name)} is loaded; loaded: ${mappings.mappingNames.join(', ')}`,
    );
  }
  const key = keyText.split(',');
  if (key.length !== m.instance.key.length) {
    throw new CdcError(
      'CONFIG_INVALID',
      `${JSON.stringify(keyText)} has ${key.length} key value${key.length === 1 ? '' : 's'}; ` +
        `mapping ${name} is keyed by ${m.instance.key.join(', ')} (separate values with commas)`,
    );
  }
  return { mapping: name, key };
}

function unknownExternalId(mappings: CompiledMappingSet, id: string): CdcError {
  return new CdcError(
    'CONFIG_INVALID',
    `${JSON.stringify(id)} is not the instance id of exactly one instance of the loaded mappings ` +
      `(${mappings.mappingNames.join(', ')}): no instance id template renders it, or several do; ` +
      `name the mapping and the key instead: --mapping <name> <key values, comma-separated>`,
  );
}

async function previewLive(
  sourceUrl: string,
  mappings: CompiledMappingSet,
  flags: PreviewFlags,
): Promise<PreviewResult> {
  const ref = flags.mapping
    ? refOfKey(mappings, flags.mapping, flags.instance)
    : mappings.refOfExternalId(flags.instance);
  if (!ref) throw unknownExternalId(mappings, flags.instance);
  const client = new pg.Client({ connectionString: sourceUrl, application_name: 'approval-cdc-preview' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('begin transaction isolation level repeatable read read only');
    const rows = await loadInstanceRowsLive(client, mappings, ref);
    await client.query('commit');
    return previewOf(mappings, ref, mappings.build(ref, rows), 0n, 'in the source database');
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function previewFromReplica(
  settings: Settings,
  mappings: CompiledMappingSet,
  flags: PreviewFlags,
): Promise<PreviewResult> {
  const schema = settings.stateSchema;
  const state = await openStateOf(settings, {
    max: 2,
    applicationName: 'approval-cdc-preview',
    create: false,
  }).catch((cause: unknown) => {
    throw new CdcError(
      'STATE_DB',
      `cannot open the replica (${describeError(cause)}): run \`approval-cdc setup\` first, or preview with --live`,
      { cause },
    );
  });
  try {
    const instances = new InstanceTable(state.db, schema);
    if (!(await instances.exists())) {
      throw new CdcError(
        'STATE_DB',
        `the state database has no replica (no table ${schema}.instance): run \`approval-cdc setup\` first, or preview with --live`,
      );
    }
    // Every instance record the id names (one normally; mappings over one table sharing an id
    // template may have one each, and then the one that builds a payload is what gets pushed).
    let candidates: { ref: InstanceRef; lastAccepted: bigint }[];
    if (flags.mapping) {
      const ref = refOfKey(mappings, flags.mapping, flags.instance);
      const [record] = await instances.records({ id: instanceIdOf(ref) });
      candidates = [{ ref, lastAccepted: record?.lastUpdateTime ?? 0n }];
    } else {
      const records = await instances.records({ externalId: flags.instance });
      candidates = records.map((r) => ({ ref: r.ref, lastAccepted: r.lastUpdateTime }));
      if (candidates.length === 0) {
        const ref = mappings.refOfExternalId(flags.instance);
        if (!ref) throw unknownExternalId(mappings, flags.instance);
        candidates = [{ ref, lastAccepted: 0n }];
      }
    }
    const results: PreviewResult[] = [];
    for (const { ref, lastAccepted } of candidates) {
      const rows = await loadInstanceRows(state.db, schema, mappings, ref);
      results.push(previewOf(mappings, ref, mappings.build(ref, rows), lastAccepted, 'in the replica'));
    }
    const rank = { payload: 0, unmappable: 1, absent: 2 } as const;
    results.sort((a, b) => rank[a.kind] - rank[b.kind]);
    const best = results[0];
    if (!best) throw new CdcError('INTERNAL', 'no preview candidate');
    return best;
  } finally {
    await state.close();
  }
}
