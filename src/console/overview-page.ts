// The console's overview: streaming state, role, slot lag (with the last hour as charts), retained
// WAL against max_slot_wal_keep_size, backlog by lane with its ETA at the budget, budget use, push
// results and copy progress. Invariant: every number comes from the metrics registry that /metrics
// serves (each carries its metric name and exact value in data- attributes, so a test can hold the
// page to /metrics); the charts come from the fixed-size sample ring.
import type { Metrics } from '../observe/metrics.js';
import type { Readiness } from '../observe/health-server.js';
import type { SampleRing } from '../observe/sample-ring.js';
import { html, jsonBlock, type Html } from './html.js';

type Labels = Record<string, string>;
interface Value {
  labels: Labels;
  value: number;
}

export interface OverviewInputs {
  metrics: Metrics;
  samples: SampleRing;
  readiness: Readiness;
  recentPushes: { result: string; code: string; count: number }[];
}

const M = {
  leader: 'approval_cdc_leader',
  streaming: 'approval_cdc_streaming',
  lagBytes: 'approval_cdc_slot_lag_bytes',
  lagSeconds: 'approval_cdc_replication_lag_seconds',
  retained: 'approval_cdc_slot_retained_wal_bytes',
  safe: 'approval_cdc_slot_safe_wal_size_bytes',
  walStatus: 'approval_cdc_slot_wal_status',
  backlog: 'approval_cdc_backlog_instances',
  oldest: 'approval_cdc_oldest_pending_seconds',
  parked: 'approval_cdc_parked_instances',
  inFlight: 'approval_cdc_pushes_in_flight',
  pushes: 'approval_cdc_pushes_total',
  budgetUsed: 'approval_cdc_rate_budget_used_last_minute',
  budgetLimit: 'approval_cdc_rate_budget_per_minute',
  snapshot: 'approval_cdc_snapshot_rows_copied',
} as const;

export async function overviewBody(o: OverviewInputs): Promise<Html> {
  const all = await o.metrics.registry.getMetricsAsJSON();
  const values = (name: string): Value[] =>
    (all.find((m) => m.name === name)?.values ?? []).map((v) => ({
      labels: Object.fromEntries(Object.entries(v.labels).map(([k, l]) => [k, String(l)])),
      value: v.value,
    }));
  const one = (name: string, labels: Labels = {}): number | null =>
    values(name).find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? null;
  const shown = (name: string, labels: Labels, text: string) =>
    html`<span
      class="value"
      data-metric="${name}"
      data-labels="${JSON.stringify(labels)}"
      data-value="${String(one(name, labels) ?? '')}"
      >${text}</span
    >`;
  // A labelled gauge without the series (the backlog of an empty lane) reads as `absent`.
  const num = (
    name: string,
    labels: Labels = {},
    format: (n: number) => string = (n) => String(n),
    absent = '-',
  ) => {
    const v = one(name, labels);
    return v === null ? html`<span class="value missing">${absent}</span>` : shown(name, labels, format(v));
  };

  const leader = one(M.leader) === 1;
  const streaming = one(M.streaming) === 1;
  const live = one(M.backlog, { lane: 'live' }) ?? 0;
  const bulk = one(M.backlog, { lane: 'bulk' }) ?? 0;
  const backfill = one(M.backlog, { lane: 'backfill' }) ?? 0;
  const perMinute = one(M.budgetLimit) ?? 0;
  const retained = one(M.retained);
  const safe = one(M.safe);
  const walStatus = values(M.walStatus).find((v) => v.value === 1)?.labels.status ?? null;
  const copies = values(M.snapshot);
  const pushes = values(M.pushes).sort((a, b) => b.value - a.value);
  const eta = (instances: number) => (perMinute > 0 ? minutes(instances / perMinute) : '-');

  return html` <section class="cards">
      <div class="card ${leader ? 'ok' : 'warn'}">
        <h3>Role</h3>
        ${num(M.leader, {}, (v) => (v === 1 ? 'leader' : 'standby'))}
      </div>
      <div class="card ${streaming ? 'ok' : 'bad'}">
        <h3>Stream</h3>
        ${num(M.streaming, {}, (v) => (v === 1 ? 'streaming' : 'not streaming'))}
        <small
          >${o.readiness.ready ? 'ready' : 'not ready'}:
          ${Object.entries(o.readiness.checks).map(([k, v]) => html`${k} ${v === true ? 'ok' : String(v)}; `)}</small
        >
      </div>
      <div class="card">
        <h3>Slot lag</h3>
        ${num(M.lagBytes, {}, bytes)} of WAL · ${num(M.lagSeconds, {}, seconds)} since the last applied commit
      </div>
      <div class="card ${walStatus === 'lost' || walStatus === 'unreserved' ? 'bad' : ''}">
        <h3>Retained WAL</h3>
        ${num(M.retained, {}, bytes)}
        ${
          safe === null || safe < 0
            ? html`<small
                >max_slot_wal_keep_size is unlimited (safe_wal_size ${num(M.safe)}): the slot can fill the
                legacy server's disk</small
              >`
            : html`<meter
                  min="0"
                  max="${String((retained ?? 0) + safe)}"
                  value="${String(retained ?? 0)}"
                ></meter>
                <small
                  >of about ${bytes((retained ?? 0) + safe)} (max_slot_wal_keep_size);
                  ${num(M.safe, {}, bytes)} left before the slot is lost</small
                >`
        }
        <small>wal_status ${walStatus ?? '-'}</small>
      </div>
      <div class="card">
        <h3>Backlog</h3>
        live ${num(M.backlog, { lane: 'live' }, String, '0')} (ETA ${eta(live)}) · bulk
        ${num(M.backlog, { lane: 'bulk' }, String, '0')} (ETA ${eta(live + bulk)}) · backfill
        ${num(M.backlog, { lane: 'backfill' }, String, '0')} (ETA ${eta(live + bulk + backfill)})
        <small>oldest pending ${num(M.oldest, {}, seconds)}; ETA at the budget of ${perMinute}/min</small>
      </div>
      <div class="card ${(one(M.parked) ?? 0) > 0 ? 'warn' : ''}">
        <h3>Parked</h3>
        <a href="/console/parked">${num(M.parked)} instances</a>
      </div>
      <div class="card">
        <h3>Budget</h3>
        ${num(M.budgetUsed)} of ${num(M.budgetLimit)} calls in the last minute · ${num(M.inFlight)} in flight
      </div>
    </section>
    <section class="charts">
      <figure>
        <figcaption>Slot lag, last hour</figcaption>
        <div class="chart" data-chart="lag"></div>
      </figure>
      <figure>
        <figcaption>Budget used per minute, last hour</figcaption>
        <div class="chart" data-chart="budget"></div>
      </figure>
      <figure>
        <figcaption>Backlog by lane, last hour</figcaption>
        <div class="chart" data-chart="backlog"></div>
      </figure>
    </section>
    ${jsonBlock('samples', { ...o.samples.columnsInOrder(), budgetLimit: perMinute })}
    <section class="split">
      <div>
        <h2>Push results since start</h2>
        <table>
          <thead>
            <tr>
              <th>result</th>
              <th>code</th>
              <th>pushes</th>
            </tr>
          </thead>
          <tbody>
            ${
              pushes.length === 0
                ? html`<tr>
                    <td colspan="3">none yet</td>
                  </tr>`
                : null
            }
            ${pushes.map(
              (p) =>
                html`<tr>
                  <td>${p.labels.result}</td>
                  <td>${p.labels.code}</td>
                  <td>${num(M.pushes, p.labels)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
        <h2>Last hour (push history)</h2>
        <table>
          <thead>
            <tr>
              <th>result</th>
              <th>code</th>
              <th>pushes</th>
            </tr>
          </thead>
          <tbody>
            ${
              o.recentPushes.length === 0
                ? html`<tr>
                    <td colspan="3">none</td>
                  </tr>`
                : null
            }
            ${o.recentPushes.map(
              (p) =>
                html`<tr>
                  <td>${p.result}</td>
                  <td>${p.code}</td>
                  <td>${p.count}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
      <div>
        <h2>Initial copy</h2>
        <table>
          <thead>
            <tr>
              <th>table</th>
              <th>rows copied</th>
            </tr>
          </thead>
          <tbody>
            ${
              copies.length === 0
                ? html`<tr>
                    <td colspan="2">no copy in this process</td>
                  </tr>`
                : null
            }
            ${copies.map(
              (c) =>
                html`<tr>
                  <td>${c.labels.table}</td>
                  <td>${num(M.snapshot, c.labels)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </section>`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function seconds(s: number): string {
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function minutes(m: number): string {
  return m === 0 ? 'now' : seconds(m * 60);
}
