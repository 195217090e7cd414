// A large table with a single integer key is copied in key ranges, several at once, each with its own
// resumable progress: the workers share the table's tail instead of one worker copying it alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CopyProgress } from '../../src/core/copy-progress.js';
import { replicaDifferences, LEGACY_KEYS } from '../support/replica-check.js';
import {
  startConnectorFixture,
  waitForConvergence,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

const REQUESTS = 480;

async function seed(fx: ConnectorFixture): Promise<void> {
  await fx.sql.query(`begin;
    insert into oa.requests (req_id, form_type, title, applicant_no, status_code, reason, submitted_at, updated_at)
       select g, 1 + g % 3, 'Request ' || g, 1 + g % 20, case when g % 4 = 0 then 2 else 1 end, 'r' || g,
              '2026-01-01'::timestamp + g * interval '1 minute', '2026-01-01'::timestamp + g * interval '1 minute'
       from generate_series(1, ${REQUESTS}) g;
    insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
       select g * 10, g, 1, 'Manager', 1 + (g + 1) % 20, 0, '2026-01-01', '2026-01-01' from generate_series(1, ${REQUESTS}) g;
    commit;`);
}

async function progressOf(fx: ConnectorFixture): Promise<CopyProgress> {
  const { rows } = await fx.state.query<{ p: CopyProgress }>(
    `select snapshot_progress as p from approval_cdc.checkpoint`,
  );
  return rows[0]?.p ?? {};
}

async function imagesOf(fx: ConnectorFixture, table: string): Promise<number> {
  const { rows } = await fx.state.query<{ n: string }>(
    `select count(*)::text as n from approval_cdc.row_image where tbl = $1`,
    [table],
  );
  return Number(rows[0]?.n ?? 0);
}

describe('a copy in key ranges', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    fx = await startConnectorFixture({
      noPipeline: true,
      settings: { ratePerMinute: 100_000, ratePerSecond: 500 },
      fake: { perMinute: 100_000, perSecond: 500 },
    });
    await seedUsers(fx.sql);
    await seed(fx);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('copies request ranges side by side, resumes each after a crash, and stores every row once', async () => {
    // Chunks of 20 rows, ranges of 80: the 480 requests and 480 steps are split in six. Eight chunks
    // are more than the users and one range hold (one and at most five), so a second range has
    // started when it stops.
    let copied = 0;
    await expect(
      fx.startPipeline({
        snapshotPageSize: 20,
        afterSnapshotPage: () => {
          if (++copied === 8) throw new Error('simulated crash during the copy');
        },
      }),
    ).rejects.toThrow(/simulated crash/);
    await fx.stopPipeline();

    const halfway = await progressOf(fx);
    const requests = halfway['oa.requests'];
    expect(requests?.ranges?.length).toBeGreaterThanOrEqual(5);
    expect(halfway['oa.steps']?.ranges?.length).toBeGreaterThanOrEqual(5);
    // More than one range was being copied: the workers take the tables' ranges in turn.
    const started = ['oa.requests', 'oa.steps', 'oa.cc'].flatMap((t) =>
      (halfway[t]?.ranges ?? []).filter((r) => r.rows > 0),
    );
    expect(started.length).toBeGreaterThanOrEqual(2);
    // Ranges saved at once by different workers all landed: the table's count is their sum, and it
    // is what the replica holds.
    const sum = (p: CopyProgress, t: string) => (p[t]?.ranges ?? []).reduce((a, r) => a + r.rows, 0);
    expect(requests?.rows).toBe(sum(halfway, 'oa.requests'));
    expect(await imagesOf(fx, 'oa.requests')).toBe(requests?.rows);
    expect(await imagesOf(fx, 'oa.steps')).toBe(halfway['oa.steps']?.rows);

    await fx.startPipeline({ snapshotPageSize: 20 });
    await waitForConvergence(fx, 60_000);
    expect(
      await replicaDifferences(fx.sql, fx.settings.stateSchema, fx.mappings, LEGACY_KEYS, fx.state),
    ).toEqual([]);
    const done = await progressOf(fx);
    for (const table of ['oa.requests', 'oa.steps']) {
      expect(done[table]?.done).toBe(true);
      expect(done[table]?.ranges?.every((r) => r.done)).toBe(true);
      expect(done[table]?.rows).toBe(REQUESTS);
      expect(sum(done, table)).toBe(REQUESTS);
    }
    // The ranges kept their bounds across the restart: the last one is open above.
    expect(done['oa.requests']?.ranges?.map((r) => r.upper)).toEqual(requests?.ranges?.map((r) => r.upper));
    expect(done['oa.requests']?.ranges?.at(-1)?.upper).toBeNull();
  }, 120_000);
});
