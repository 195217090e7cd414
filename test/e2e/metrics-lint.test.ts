// The /metrics of a running connector as Prometheus tooling sees it: `promtool check metrics` (the
// exposition-format linter from Debian's prometheus package; .ci/run installs it) finds nothing to
// complain about, and every labelled series whose label values are known in advance is there at 0
// before anything happened, so dashboards show 0 instead of "no data".
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';
import { parsePrometheusText, type PromSample } from '../support/prometheus-text.js';
import { freePort } from '../support/throwaway-postgres.js';

describe('metrics exposition', () => {
  let fx: ConnectorFixture;
  let url = '';
  let text = '';
  let samples: PromSample[] = [];

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    fx = await startConnectorFixture({ settings: { metricsAddress: `127.0.0.1:${port}` } });
    text = await (await fetch(`${url}/metrics`)).text();
    samples = parsePrometheusText(text);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('passes promtool check metrics: no lint problem but the three of prom-client standard Node gauges', () => {
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error)
      throw new Error(`promtool is missing (apt-get install prometheus): ${promtool.error.message}`);
    const problems = (promtool.stdout + promtool.stderr).split('\n').filter(Boolean);
    // Node dashboards query these names as prom-client has always exported them; renaming them to
    // please the linter would break exactly what "standard names" is for.
    const standardNodeNames =
      /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
    expect(problems.filter((p) => !standardNodeNames.test(p))).toEqual([]);
    expect(text).toContain('# TYPE approval_cdc_backlog_instances gauge');
  });

  it('has every labelled series at 0 from the start: lanes, WAL statuses, push results, mapped tables', () => {
    const series = (name: string) => samples.filter((s) => s.name === name);
    const values = (name: string, label: string) =>
      series(name)
        .map((s) => s.labels[label])
        .sort();
    expect(values('approval_cdc_backlog_instances', 'lane')).toEqual(['backfill', 'bulk', 'live']);
    expect(values('approval_cdc_oldest_pending_seconds', 'lane')).toEqual(['backfill', 'bulk', 'live']);
    expect(values('approval_cdc_commit_to_accept_seconds_count', 'lane')).toEqual([
      'backfill',
      'bulk',
      'live',
    ]);
    expect(values('approval_cdc_slot_wal_status', 'status')).toEqual([
      'extended',
      'lost',
      'reserved',
      'unreserved',
    ]);
    expect(values('approval_cdc_pushes_total', 'result')).toEqual(
      expect.arrayContaining(['absent', 'accepted', 'parked', 'retry', 'stopped']),
    );
    expect(values('approval_cdc_snapshot_rows_copied', 'table')).toEqual(
      [...fx.mappings.tables.keys()].sort(),
    );
    for (const s of series('approval_cdc_backlog_instances')) expect(s.value).toBe(0);
    for (const s of series('approval_cdc_commit_to_accept_seconds_count')) expect(s.value).toBe(0);
  });

  it("exposes Node's defaults under their standard names and lag with its unit as suffix", () => {
    const names = new Set(samples.map((s) => s.name));
    expect(names).toContain('process_cpu_seconds_total');
    expect(names).toContain('process_resident_memory_bytes');
    expect(names).toContain('nodejs_heap_size_used_bytes');
    expect([...names].filter((n) => n.includes('approval_cdc_process'))).toEqual([]);
    expect(names).toContain('approval_cdc_replication_lag_seconds');
  });

  it('says /readyz feishu true only once Feishu issued a token', async () => {
    const ready = await waitFor(
      async () => {
        const r = (await (await fetch(`${url}/readyz`)).json()) as {
          ready: boolean;
          checks: Record<string, unknown>;
        };
        return r.ready ? r : null;
      },
      30_000,
      '/readyz ready',
    );
    expect(ready.checks.feishu).toBe(true);
    expect(fx.fake.counters.tokensIssued).toBeGreaterThan(0);
  });
});
