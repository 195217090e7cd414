// The exact payload the sync stage would push for one instance, from rows already loaded: the
// mapping's build, update_time raised above the last one Feishu accepted, the update mode, and the
// limit check. Pure; `mappings preview` and the console's instance page show it.
import { describeError } from '../errors.js';
import type { ExternalInstance } from '../feishu/external-instance.js';
import { payloadLimitViolations } from '../feishu/payload-schema.js';
import type { BuildResult, InstanceRef } from '../mapping/contract.js';
import type { CompiledMappingSet } from '../mapping/mapping-set.js';
import { withMonotonicUpdateTime } from './sync-scheduler.js';

/** What `preview` found: the payload to push, or why there is none. */
export type PreviewResult =
  | { kind: 'payload'; payload: ExternalInstance; violations: string[] }
  | { kind: 'absent'; what: string }
  | { kind: 'unmappable'; reason: string };

function describeRef(mappings: CompiledMappingSet, ref: InstanceRef): string {
  const m = mappings.mapping(ref.mapping);
  const key = (m?.instance.key ?? []).map((k, i) => `${k}=${ref.key[i] ?? '?'}`).join(', ');
  const id = (() => {
    try {
      return `${mappings.externalId(ref)} `;
    } catch {
      return '';
    }
  })();
  return `${id}(mapping ${ref.mapping}, ${m?.instance.table ?? '?'} ${key})`;
}

export function previewOf(
  mappings: CompiledMappingSet,
  ref: InstanceRef,
  built: BuildResult,
  lastAccepted: bigint,
  where: string,
): PreviewResult {
  switch (built.kind) {
    case 'absent':
      return {
        kind: 'absent',
        what: `${describeRef(mappings, ref)}: no instance row ${where} matches the mapping, so nothing would be pushed`,
      };
    case 'unmappable':
      return { kind: 'unmappable', reason: built.reason };
    case 'payload': {
      // The sync stage sends update_time above the last one Feishu accepted, and the update mode.
      let payload: ExternalInstance;
      try {
        payload = withMonotonicUpdateTime(built.payload, built.updateMode, lastAccepted);
      } catch (error) {
        return { kind: 'unmappable', reason: describeError(error) };
      }
      return { kind: 'payload', payload, violations: payloadLimitViolations(payload) };
    }
  }
}
