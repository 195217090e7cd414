// Learns the update_time Feishu already holds for an instance this state database never pushed, so
// its first push does not go below it (issue 14, case 10): another state database (a rebuilt one,
// a second deployment on the same app) may have pushed it with a higher update_time, and REPLACE
// would lower it while UPDATE would be ignored. Feishu's external_instances/check answers with the
// update_time it holds (feishu-api.md §2). Invariant: no instance first seen in a snapshot copy is
// pushed before its floor is known (asked once, then recorded: last_update_time, floor_unknown off).
// An instance created by a live change cannot be in Feishu unless two connectors push one app at
// once, which no floor can make safe; it costs no check.
import type { CheckInstance, DiffInstance } from '../feishu/payload-schema.js';
import type { DirtyInstance, InstanceTable } from '../replica/instance-table.js';

export interface FeishuFloorOptions {
  store: InstanceTable;
  check(instances: CheckInstance[]): Promise<DiffInstance[]>;
  /** Instances asked about per check call: the one about to be pushed and the next unknown ones. */
  batchSize?: number;
}

export class FeishuFloor {
  constructor(private readonly o: FeishuFloorOptions) {}

  /** Whether Feishu holds `instance` (see feishuHolds). */
  holds(instance: DirtyInstance): Promise<boolean> {
    return feishuHolds(instance, this.o.check);
  }

  /** The update_time the next push of `instance` must exceed. */
  async floorOf(instance: DirtyInstance): Promise<bigint> {
    if (!instance.floorUnknown) return instance.lastUpdateTime;
    // One call covers the instances due next too: a fresh state database's initial load costs one
    // check per batch of pushes, not one per push.
    const others = await this.o.store.unknownToFeishu((this.o.batchSize ?? 20) - 1, [instance.id]);
    const asked = [{ id: instance.id, externalId: instance.externalId }, ...others];
    // update_time "0" differs from anything Feishu holds, so every instance it holds is in the diff
    // with its effective update_time; one it does not hold comes back with "0".
    const diffs = await this.o.check(
      asked.map((a) => ({ instance_id: a.externalId, update_time: '0', tasks: [] })),
    );
    const held = new Map<string, bigint>();
    for (const d of diffs) held.set(d.instance_id, parseTime(d.update_time));
    await this.o.store.raiseUpdateTime(
      asked.map((a) => ({ id: a.id, updateTime: held.get(a.externalId) ?? 0n })),
    );
    const floor = held.get(instance.externalId) ?? 0n;
    return floor > instance.lastUpdateTime ? floor : instance.lastUpdateTime;
  }
}

/** Whether Feishu holds `instance`: accepted from this state database, or else asked now. */
export async function feishuHolds(
  instance: DirtyInstance,
  check: FeishuFloorOptions['check'],
): Promise<boolean> {
  if (instance.lastUpdateTime > 0n) return true;
  const diffs = await check([{ instance_id: instance.externalId, update_time: '0', tasks: [] }]);
  return diffs.some((d) => d.instance_id === instance.externalId && parseTime(d.update_time) > 0n);
}

function parseTime(text: string | undefined): bigint {
  try {
    return text ? BigInt(text) : 0n;
  } catch {
    return 0n;
  }
}
