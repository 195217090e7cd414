// `users report`: every legacy identity (email, mobile) the mappings reference that Feishu does not
// resolve, with how many instances reference it and how many instances would park for it, so a
// tenant fixes its directory before go-live rather than after.
// Invariant: read-only towards Feishu's approval side and the legacy database; the only writes are
// identity cache entries, resolved in batches of the endpoint's limits (one pass collects, one
// batched resolution, one pass builds).
import { sql, type Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import { rowQueryKey, type InstanceRef, type MappingSet, type RowQuery } from '../mapping/contract.js';
import { IDENTITIES_TABLE } from '../mapping/virtual-tables.js';
import { loadInstanceRows } from '../replica/row-loader.js';
import { readVirtualRows } from '../replica/virtual-rows.js';
import type { Settings } from '../config/settings.js';
import { IdentityResolver, type IdentityLookupApi } from './identity-resolver.js';
import { RateBudget } from './rate-budget.js';

export interface UnresolvedIdentity {
  kind: string;
  value: string;
  idType: string;
  /** Instances whose build asks for this identity. */
  instances: number;
}

export interface UsersReport {
  instances: number;
  identities: number;
  unresolved: UnresolvedIdentity[];
  /** Instances that would park because a person does not resolve, with one example reason. */
  parking: number;
  examples: { instance: string; reason: string }[];
}

/** The report as `users report` and the demo make it: resolved through `api` with the identity settings. */
export function usersReportOf(
  db: Kysely<StateDb>,
  settings: Settings,
  mappings: MappingSet,
  api: IdentityLookupApi,
): Promise<UsersReport> {
  const resolver = new IdentityResolver({
    db,
    schema: settings.stateSchema,
    api,
    budget: new RateBudget({
      perSecond: settings.identityPerSecond,
      perMinute: settings.identityPerMinute,
    }),
    refreshMs: settings.identityRefreshMs,
    negativeRefreshMs: settings.identityNegativeRefreshMs,
  });
  return usersReport(db, settings.stateSchema, mappings, resolver);
}

export async function usersReport(
  db: Kysely<StateDb>,
  schema: string,
  mappings: MappingSet,
  resolver: IdentityResolver,
): Promise<UsersReport> {
  const { rows } = await sql<{ mapping: string; key: string[] }>`
    select mapping, key from ${sql.id(schema, 'instance')} order by id`.execute(db);
  const refs: InstanceRef[] = rows
    .filter((r) => mappings.mappingNames.includes(r.mapping))
    .map((r) => ({ mapping: r.mapping, key: r.key }));

  // Pass 1: which identities each instance asks for (answered from the cache or not at all).
  const wanted = new Map<string, RowQuery>();
  const users = new Map<string, number>();
  for (const ref of refs) {
    const asked = new Set<string>();
    await loadInstanceRows(db, schema, mappings, ref, async (queries) => {
      for (const q of queries) {
        if (q.table !== IDENTITIES_TABLE) continue;
        wanted.set(rowQueryKey(q), q);
        asked.add(rowQueryKey(q));
      }
    });
    for (const k of asked) users.set(k, (users.get(k) ?? 0) + 1);
  }
  // One batched resolution of everything at once (50 + 50 per call).
  await resolver.ensure([...wanted.values()]);

  const queries = [...wanted.values()];
  const answers = await readVirtualRows(db, schema, queries);
  const unresolved: UnresolvedIdentity[] = [];
  queries.forEach((q, i) => {
    if ((answers[i] ?? []).length > 0) return;
    unresolved.push({
      kind: q.match.kind ?? '',
      value: q.match.value ?? '',
      idType: q.match.id_type ?? '',
      instances: users.get(rowQueryKey(q)) ?? 0,
    });
  });
  unresolved.sort((a, b) => b.instances - a.instances || (a.value < b.value ? -1 : 1));

  // Pass 2: what the builds say now that the cache is filled.
  let parking = 0;
  const examples: { instance: string; reason: string }[] = [];
  for (const ref of refs) {
    const built = mappings.build(ref, await loadInstanceRows(db, schema, mappings, ref));
    if (built.kind === 'unmappable' && built.reason.includes('no Feishu user for')) {
      parking++;
      if (examples.length < 10) examples.push({ instance: mappings.externalId(ref), reason: built.reason });
    }
  }
  return { instances: refs.length, identities: wanted.size, unresolved, parking, examples };
}

export function renderUsersReport(r: UsersReport): string {
  const lines = [
    `${r.instances} instance(s) reference ${r.identities} legacy identit${r.identities === 1 ? 'y' : 'ies'}; ${r.unresolved.length} do not resolve in Feishu`,
  ];
  for (const u of r.unresolved)
    lines.push(
      `  ${u.kind} ${u.value} (${u.idType}): no Feishu user; referenced by ${u.instances} instance(s)`,
    );
  lines.push(`${r.parking} instance(s) would park for a person that does not resolve`);
  for (const e of r.examples) lines.push(`  ${e.instance}: ${e.reason}`);
  return `${lines.join('\n')}\n`;
}
