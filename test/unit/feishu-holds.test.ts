import { describe, expect, it } from 'vitest';
import { feishuHolds } from '../../src/sync/feishu-floor.js';
import type { DirtyInstance } from '../../src/replica/instance-table.js';
import type { CheckInstance, DiffInstance } from '../../src/feishu/payload-schema.js';

const instance = (lastUpdateTime: bigint): DirtyInstance => ({
  id: '["oa-request","200"]',
  ref: { mapping: 'oa-request', key: ['200'] },
  externalId: 'oa-req-200',
  version: 2n,
  lane: 0,
  lastUpdateTime,
  attempts: 0,
  firstCommitAt: null,
  acceptedDigest: null,
  floorUnknown: false,
});

describe('whether Feishu holds an instance whose deletion cannot be built', () => {
  it('says yes without asking when Feishu accepted it from this state database', async () => {
    const asked: CheckInstance[][] = [];
    const check = async (i: CheckInstance[]): Promise<DiffInstance[]> => (asked.push(i), []);
    expect(await feishuHolds(instance(1_700_000_000_000n), check)).toBe(true);
    expect(asked).toEqual([]);
  });

  it('asks Feishu otherwise: held when it answers an update_time, not held when it answers 0', async () => {
    const held = async (): Promise<DiffInstance[]> => [
      { instance_id: 'oa-req-200', update_time: '1700000000000' },
    ];
    const gone = async (): Promise<DiffInstance[]> => [{ instance_id: 'oa-req-200', update_time: '0' }];
    expect(await feishuHolds(instance(0n), held)).toBe(true);
    expect(await feishuHolds(instance(0n), gone)).toBe(false);
    expect(await feishuHolds(instance(0n), async () => [])).toBe(false);
  });
});
