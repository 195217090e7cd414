// The console's own script and style sheet, served from /console/assets (the pages allow scripts and
// styles from their own origin only, so nothing is inline). Kept as strings so that the compiled
// daemon needs no asset files next to it; uPlot itself is served from node_modules.

/** Browser script: confirmations, "select all", the charts, and a 5 s refresh of the overview. */
export const CONSOLE_SCRIPT = String.raw`(() => {
  'use strict';
  document.addEventListener('submit', (event) => {
    const button = event.submitter;
    const message = (button && button.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  document.addEventListener('change', (event) => {
    const box = event.target;
    if (!box.dataset || !box.dataset.selectAll) return;
    for (const c of document.querySelectorAll('input[type=checkbox][form="' + box.dataset.selectAll + '"]'))
      c.checked = box.checked;
  });

  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const bytes = (v) => {
    if (v == null) return '';
    let u = 0;
    while (Math.abs(v) >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return (u === 0 ? String(Math.round(v)) : v.toFixed(1)) + ' ' + units[u];
  };
  let charts = [];
  function drawCharts() {
    for (const c of charts) c.destroy();
    charts = [];
    const block = document.getElementById('samples');
    if (!block || typeof uPlot === 'undefined') return;
    const d = JSON.parse(block.textContent);
    const defs = {
      lag: {
        data: [d.t, d.lagBytes, d.lagSeconds],
        series: [
          { label: 'WAL behind', stroke: '#c0392b', scale: 'bytes', value: (u, v) => bytes(v) },
          { label: 's since last commit', stroke: '#2471a3', scale: 's' },
        ],
        axes: [{}, { scale: 'bytes', values: (u, vals) => vals.map(bytes), size: 70 }, { scale: 's', side: 1, grid: { show: false } }],
      },
      budget: {
        data: [d.t, d.budgetUsed, d.t.map(() => d.budgetLimit)],
        series: [
          { label: 'calls in the last minute', stroke: '#1e8449' },
          { label: 'limit', stroke: '#999', dash: [4, 4] },
        ],
      },
      backlog: {
        data: [d.t, d.backlogLive, d.backlogBulk, d.backlogBackfill],
        series: [
          { label: 'live', stroke: '#7d3c98' },
          { label: 'bulk', stroke: '#2874a6' },
          { label: 'backfill', stroke: '#ca6f1e' },
        ],
      },
    };
    for (const el of document.querySelectorAll('[data-chart]')) {
      const def = defs[el.dataset.chart];
      if (!def) continue;
      const opts = {
        width: Math.max(280, el.clientWidth || 400),
        height: 170,
        scales: { x: { time: true } },
        series: [{}].concat(def.series),
      };
      if (def.axes) opts.axes = def.axes;
      charts.push(new uPlot(opts, def.data, el));
    }
  }

  async function refresh() {
    if (document.hidden || !document.getElementById('samples')) return;
    try {
      const res = await fetch(location.href, { headers: { 'x-console-fragment': 'main' } });
      if (!res.ok) return;
      document.getElementById('main').innerHTML = await res.text();
      drawCharts();
    } catch (e) {
      /* the daemon is restarting; the next tick tries again */
    }
  }

  window.addEventListener('DOMContentLoaded', () => {
    drawCharts();
    if (document.getElementById('samples')) setInterval(refresh, 5000);
  });
})();
`;

export const CONSOLE_CSS = `
:root { font-family: system-ui, sans-serif; font-size: 14px; color: #1c2833; background: #f4f6f7; }
body { margin: 0; }
header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.2em; background: #1c2833; color: #fff; }
header nav { display: flex; gap: .3em; flex: 1; }
header nav a { color: #d5d8dc; text-decoration: none; padding: .3em .7em; border-radius: 4px; }
header nav a.active { background: #34495e; color: #fff; }
header .mode, header button { color: #f9e79f; background: none; border: 1px solid #7f8c8d; border-radius: 4px; padding: .2em .6em; font: inherit; cursor: pointer; text-decoration: none; }
main { padding: 1em 1.2em; }
h1 { font-size: 1.4em; margin: .2em 0 .6em; } h2 { font-size: 1.15em; } h3 { font-size: 1em; margin: .8em 0 .3em; }
.count { color: #7f8c8d; font-weight: normal; }
.notice { background: #fef9e7; border: 1px solid #f4d03f; padding: .5em .8em; border-radius: 4px; margin: .6em 1.2em; }
main .notice { margin: .6em 0; }
.hint { color: #566573; max-width: 60em; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: .8em; }
.card { background: #fff; border-radius: 6px; padding: .6em .9em; border-left: 4px solid #aab7b8; }
.card.ok { border-color: #27ae60; } .card.warn { border-color: #f39c12; } .card.bad { border-color: #c0392b; }
.card h3 { margin: 0 0 .3em; font-size: .85em; text-transform: uppercase; color: #566573; }
.card .value { font-size: 1.25em; font-weight: 600; }
.card small { display: block; color: #566573; margin-top: .3em; }
meter { width: 100%; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: .8em; margin: 1em 0; }
figure { margin: 0; background: #fff; border-radius: 6px; padding: .5em; }
figcaption { font-weight: 600; color: #566573; margin-bottom: .3em; }
.split { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5em; }
table { border-collapse: collapse; background: #fff; margin: .3em 0 1em; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e5e8e8; vertical-align: top; }
th { background: #eaeded; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.reason { max-width: 50em; word-break: break-word; }
table.kv th { background: none; color: #566573; }
form.inline { display: inline; }
button { font: inherit; padding: .2em .7em; border: 1px solid #85929e; border-radius: 4px; background: #fff; cursor: pointer; }
button.danger { border-color: #c0392b; color: #c0392b; }
.search input { width: 28em; padding: .35em; font: inherit; }
.badge { font-size: .75em; padding: .15em .5em; border-radius: 8px; background: #d5d8dc; vertical-align: middle; }
.badge.parked { background: #f5b7b1; } .badge.in-sync { background: #abebc6; } .badge.retrying { background: #f9e79f; }
pre.payload { background: #fff; padding: .8em; border-radius: 6px; max-height: 30em; overflow: auto; }
tr.retry td, tr.parked td, tr.stopped td { color: #922b21; }
.pager { display: flex; gap: 1em; align-items: center; }
details { margin: .3em 0; } summary { cursor: pointer; }
.login { max-width: 26em; background: #fff; padding: 1em 1.4em; border-radius: 6px; }
.login input { width: 100%; padding: .4em; font: inherit; margin: .4em 0 .8em; box-sizing: border-box; }
`;
