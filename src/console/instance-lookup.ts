// Finds an instance for the console's instance page, by its external id or by the legacy key of its
// instance row, and gathers what the page shows: sync state, rows in the replica, the payload it
// would push now, and its push history. Invariant: read-only, and every query is bounded (one
// instance, a page of history).
import type { Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import type { InstanceRef, LoadedRow, RowQuery } from '../mapping/contract.js';
import type { CompiledMappingSet } from '../mapping/mapping-set.js';
import { instanceIdOf } from '../replica/instance-vocabulary.js';
import { loadInstanceRows } from '../replica/row-loader.js';
import { InstanceViews, type InstanceState } from '../replica/instance-views.js';
import { previewOf, type PreviewResult } from '../sync/payload-preview.js';
import { PushHistory, type PushEntry } from '../sync/push-history.js';

export interface FoundInstance {
  ref: InstanceRef;
  /** The internal id (mapping and key), as the state database keys it. */
  id: string;
  externalId: string | null;
  state: InstanceState | null;
  rows: [RowQuery, readonly LoadedRow[]][];
  preview: PreviewResult;
  history: PushEntry[];
  /** Cursor for the next (older) page of history, or null. */
  olderThan: string | null;
}

export const HISTORY_PAGE = 20;

export async function lookUpInstances(o: {
  db: Kysely<StateDb>;
  schema: string;
  mappings: CompiledMappingSet;
  query: string;
  /** Page of history: entries older than this id. */
  before?: string | undefined;
}): Promise<FoundInstance[]> {
  const q = o.query.trim();
  if (q === '') return [];
  const store = new InstanceViews(o.db, o.schema);
  let states = await store.find({ externalId: q });
  const refs = new Map<string, InstanceRef>(states.map((s) => [s.id, { mapping: s.mapping, key: s.key }]));
  if (refs.size === 0) {
    // A legacy key: the values of the instance row's key columns (comma-separated when composite),
    // tried against every mapping keyed by that many columns.
    const key = q.split(',').map((v) => v.trim());
    for (const name of o.mappings.mappingNames) {
      if (o.mappings.mapping(name)?.instance.key.length === key.length) {
        const ref = { mapping: name, key };
        refs.set(instanceIdOf(ref), ref);
      }
    }
    const byExternal = o.mappings.refOfExternalId(q);
    if (byExternal) refs.set(instanceIdOf(byExternal), byExternal);
    states = await store.find({ ids: [...refs.keys()] });
    // A key that names no stored instance of a mapping is not shown, unless nothing is stored at all
    // and the id templates name one (an instance the replica has not seen yet).
    const stored = new Set(states.map((s) => s.id));
    for (const id of [...refs.keys()]) {
      if (!stored.has(id) && !(stored.size === 0 && byExternal && instanceIdOf(byExternal) === id))
        refs.delete(id);
    }
  }
  const history = new PushHistory(o.db, o.schema);
  const found: FoundInstance[] = [];
  for (const [id, ref] of refs) {
    const state = states.find((s) => s.id === id) ?? null;
    const rows = await loadInstanceRows(o.db, o.schema, o.mappings, ref);
    const preview = previewOf(
      o.mappings,
      ref,
      o.mappings.build(ref, rows),
      state?.lastUpdateTime ?? 0n,
      'in the replica',
    );
    const entries = await history.forInstances([id], HISTORY_PAGE + 1, o.before);
    let externalId = state?.externalId ?? null;
    if (externalId === null) {
      try {
        externalId = o.mappings.externalId(ref);
      } catch {
        externalId = null;
      }
    }
    found.push({
      ref,
      id,
      externalId,
      state,
      rows: rows.entries(),
      preview,
      history: entries.slice(0, HISTORY_PAGE),
      olderThan: entries.length > HISTORY_PAGE ? (entries[HISTORY_PAGE - 1]?.id ?? null) : null,
    });
  }
  return found;
}
