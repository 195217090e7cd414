// The COPY path of the initial load with rows of several megabytes whose text holds every character
// COPY's text format escapes: each value lands in the replica exactly as the source prints it, and a
// copy killed between two chunks resumes after the last committed one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RAW_TEXT } from '../../src/source/snapshot-copy.js';
import { LEGACY_KEYS, replicaDifferences } from '../support/replica-check.js';
import { startConnectorFixture, type ConnectorFixture } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

/** About `mb` megabytes of text with tabs, newlines, CRs, backslashes, a literal \N, quotes and unicode. */
function wideText(seed: number, mb: number): string {
  const piece = `row ${seed}\tcol\\umn\nline two\r\n\\N not null\\\\ "quoted" 'single' 审批 ✓ 🚀 \u00e9\u0301 \\t literal\f\b\v end;`;
  return piece.repeat(Math.ceil((mb * 1024 * 1024) / Buffer.byteLength(piece)));
}

describe('an initial copy of wide rows', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    // Nothing is pushed: this is about the replica's images, not about Feishu.
    fx = await startConnectorFixture({ noPipeline: true, settings: { initialLoad: 'none' } });
    await seedUsers(fx.sql);
    for (let id = 1; id <= 6; id++) {
      await fx.sql.query(
        `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, reason, detail_doc, submitted_at, updated_at)
         values ($1, 1, $2, 1, 1, $3, $4, $5, '2026-01-01', '2026-01-01')`,
        [
          id,
          id === 3 ? '' : `Title\t${id}\\`,
          id % 2 === 0 ? null : '12.50',
          wideText(id, id <= 3 ? 3 : 0.01),
          id === 5 ? null : wideText(id + 100, 1),
        ],
      );
    }
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('stores every value byte for byte and resumes after a kill between chunks', async () => {
    let chunks = 0;
    await expect(
      fx.startPipeline({
        snapshotPageSize: 2,
        afterSnapshotPage: (table) => {
          if (table === 'oa.requests' && ++chunks === 2) throw new Error('simulated kill between chunks');
        },
      }),
    ).rejects.toThrow(/simulated kill/);
    await fx.stopPipeline();
    const saved = await fx.state.query<{ p: { rows: number; done: boolean; lastKey: string[] } }>(
      `select snapshot_progress -> 'oa.requests' as p from approval_cdc.checkpoint`,
    );
    // Two chunks of two rows committed, with their images; the rest is left for the resumed copy.
    expect(saved.rows[0]?.p).toMatchObject({ rows: 4, done: false, lastKey: ['4'] });
    const early = await fx.state.query(
      `select pk from approval_cdc.row_image where tbl = 'oa.requests' order by pk`,
    );
    expect(early.rows.map((r) => r.pk)).toEqual(['["1"]', '["2"]', '["3"]', '["4"]']);

    await fx.startPipeline({ snapshotPageSize: 2 });
    const source = await fx.sql.query<Record<string, string | null>>({
      text: `select req_id, title, amount, reason, detail_doc from oa.requests order by req_id`,
      types: RAW_TEXT,
    });
    const images = await fx.state.query<{ pk: string; data: Record<string, string | null> }>(
      `select pk, data from approval_cdc.row_image where tbl = 'oa.requests' and not deleted order by pk`,
    );
    expect(images.rows).toHaveLength(6);
    for (const row of source.rows) {
      const image = images.rows.find((r) => r.pk === JSON.stringify([row.req_id]))?.data;
      for (const column of ['title', 'amount', 'reason', 'detail_doc']) {
        expect(image && column in image, `${column} of ${row.req_id} kept`).toBe(true);
        expect(image?.[column] === row[column], `${column} of request ${row.req_id}`).toBe(true);
      }
    }
    expect(source.rows[4]?.detail_doc).toBeNull();
    expect(source.rows[0]?.reason?.length).toBeGreaterThan(2_500_000);
    expect(
      await replicaDifferences(fx.sql, fx.settings.stateSchema, fx.mappings, LEGACY_KEYS, fx.state),
    ).toEqual([]);
    await fx.stopPipeline();
  }, 120_000);
});
