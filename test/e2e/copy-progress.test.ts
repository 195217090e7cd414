// The initial copy says how far it is while it runs: each table with rows done against an estimated
// total, a percentage, a rate and an ETA, in the callback a terminal bar draws, in `status` (tables
// still waiting included) and in metrics; the pure report never passes 100% before a table is done.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setup } from '../../src/cli/setup.js';
import { createLogger } from '../../src/core/logger.js';
import {
  copyProgress,
  tableProgress,
  terminalProgressLine,
  type TableProgressReport,
} from '../../src/observe/copy-progress.js';
import { openStateDb } from '../../src/replica/state-db.js';
import { gatherStatus, type StatusReport } from '../../src/ops/status-report.js';
import { startConnectorFixture, type ConnectorFixture } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';

describe('progress of the initial copy', () => {
  let fx: ConnectorFixture;
  const reports: TableProgressReport[] = [];
  let midCopyStatus: StatusReport | null = null;

  beforeAll(async () => {
    // One table at a time, so a table is still waiting while oa.requests is copied.
    fx = await startConnectorFixture({
      noPipeline: true,
      settings: { initialLoad: 'none', snapshotConcurrency: 1 },
    });
    await seedUsers(fx.sql);
    await fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, reason, submitted_at, updated_at)
       select g, 1, 'Request ' || g, 1 + g % 20, 1, 'r', '2026-01-01', '2026-01-01' from generate_series(1, 2000) g`);
    // Copied after oa.requests (larger tables first): it waits while oa.requests is copied.
    await fx.sql.query(
      `insert into oa.cc (cc_no, req_id, user_no, created_at) select g, g, 1, '2026-01-01' from generate_series(1, 1000) g`,
    );
    let pages = 0;
    await fx.startPipeline({
      snapshotPageSize: 250,
      onSnapshotProgress: (r) => reports.push(r),
      afterSnapshotPage: async (table) => {
        // A little time per page, so the rate and the ETA have elapsed time to work from.
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (table === 'oa.requests' && ++pages === 4) {
          const state = openStateDb(fx.stateUrl, fx.settings.stateSchema, { max: 1 });
          try {
            midCopyStatus = await gatherStatus({
              state: { db: state.db, schema: fx.settings.stateSchema },
              source: { error: 'not asked' },
              slot: fx.settings.slotName,
            });
          } finally {
            await state.close();
          }
        }
      },
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('reports rows done of the estimated total, percent, rows/s and an ETA during the copy', () => {
    const mid = reports.find((r) => r.table === 'oa.requests' && r.state === 'copying' && r.rows === 1000);
    expect(mid).toBeDefined();
    expect(mid?.total).toBe(2000);
    expect(mid?.percent).toBeCloseTo(50, 5);
    expect(mid?.rowsPerSecond).toBeGreaterThan(0);
    expect(mid?.etaSeconds).toBeGreaterThan(0);
    const last = reports.filter((r) => r.table === 'oa.requests').at(-1);
    expect(last).toMatchObject({ rows: 2000, total: 2000, percent: 100, state: 'done', etaSeconds: 0 });
  });

  it('lists in status every table of the copy, the ones not yet started too, with totals and an ETA', () => {
    const snapshot = midCopyStatus?.checkpoint?.snapshot ?? [];
    expect(snapshot.map((t) => t.table).sort()).toEqual([...fx.mappings.tables.keys()].sort());
    const requests = snapshot.find((t) => t.table === 'oa.requests');
    expect(requests).toMatchObject({ rows: 1000, total: 2000, state: 'copying' });
    expect(requests?.etaSeconds).toBeGreaterThan(0);
    expect(snapshot.filter((t) => t.state === 'waiting').length).toBeGreaterThan(0);
  });

  it('exports the rows copied and the estimate per table', async () => {
    const text = (await fx.pipeline?.metrics.registry.metrics()) ?? '';
    expect(text).toContain('approval_cdc_snapshot_rows_copied{table="oa.requests"} 2000');
    expect(text).toContain('approval_cdc_snapshot_rows_estimated{table="oa.requests"} 2000');
  });

  it('never shows 100% before a table is done, even when the estimate was low', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const under = tableProgress(
      't',
      { rows: 5000, done: false, total: 4000, startedAt: '2026-01-01T00:00:00Z' },
      now,
    );
    expect(under.percent).toBeLessThan(100);
    expect(under.rowsPerSecond).toBeCloseTo(5000 / 60, 5);
    const all = copyProgress(
      ['a', 'b'],
      {
        a: { rows: 600, done: true, total: 500, startedAt: '2026-01-01T00:00:00Z' },
        b: { rows: 0, done: false, total: 1200 },
      },
      now,
    );
    expect(all.total).toBe(1800);
    expect(all.etaSeconds).toBeCloseTo(1200 / 10, 5);
  });
});

describe('progress of the copy `setup` makes', () => {
  it('logs each table with rows done of its total, as `run` does (it said only "copying N rows")', async () => {
    const fx = await startConnectorFixture({ noPipeline: true });
    const lines: { msg: string }[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
          lines.push(JSON.parse(line) as { msg: string });
        done();
      },
    });
    try {
      await seedUsers(fx.sql);
      await fx.sql
        .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
        select g, 1, 'R' || g, 1, 1, '2026-01-01', '2026-01-01' from generate_series(1, 300) g`);
      await setup(fx.settings, fx.mappings, createLogger('info', stream));
      const copy = lines.map((l) => l.msg).filter((m) => m.startsWith('initial copy: '));
      expect(
        copy.some((m) =>
          /^initial copy: oa\.requests 300 \/ 300 rows \(100\.0%\)(, [\d,]+ rows\/s)?, done$/.test(m),
        ),
        copy.join('\n'),
      ).toBe(true);
    } finally {
      await fx.close();
    }
  });

  it('draws a bar a terminal rewrites in place, ending the line when the table is done', () => {
    const at = Date.parse('2026-01-01T00:00:10Z');
    const half = tableProgress(
      'oa.requests',
      { rows: 500, done: false, total: 1000, startedAt: '2026-01-01T00:00:00Z' },
      at,
    );
    expect(terminalProgressLine(half)).toBe(
      '\r\x1b[K  initial copy [############............] oa.requests 500 / 1,000 rows (50.0%), 50 rows/s, ETA 10 s',
    );
    const done = tableProgress(
      'oa.requests',
      { rows: 1000, done: true, total: 1000, startedAt: '2026-01-01T00:00:00Z' },
      at,
    );
    expect(terminalProgressLine(done).endsWith(', done\n')).toBe(true);
  });
});
