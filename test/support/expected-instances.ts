// The oracle of every end-to-end check: the payloads Feishu should hold, built by the mapping from
// the live source rows. No vitest import, so benchmarks can use it too.
import type pg from 'pg';
import type { ExternalInstance } from '../../src/feishu/external-instance.js';
import type { MappingSet } from '../../src/mapping/contract.js';
import { liveInstanceRefs, loadInstanceRowsLive } from '../../src/source/live-rows.js';

/** The payloads Feishu should hold, built by the mapping from the live source rows. */
export async function expectedInstancesOf(
  sql: pg.Pool,
  mappings: MappingSet,
): Promise<Map<string, ExternalInstance>> {
  const client = await sql.connect();
  try {
    const out = new Map<string, ExternalInstance>();
    for (const ref of (await liveInstanceRefs(client, mappings)).values()) {
      const built = mappings.build(ref, await loadInstanceRowsLive(client, mappings, ref));
      if (built.kind === 'payload') out.set(built.payload.instance_id, built.payload);
    }
    return out;
  } finally {
    client.release();
  }
}
