// The console's instance page: a search by external id or legacy key, and for each instance found its
// sync state, its rows in the replica, the exact payload it would push now, and its push history
// (paged), with "push again". Rendering only; the lookup is in instance-lookup.ts.
import type { FoundInstance } from './instance-lookup.js';
import { actionForm, age, html, type Html } from './html.js';
import { laneName } from '../replica/instance-vocabulary.js';

export function instanceBody(o: {
  query: string;
  found: FoundInstance[];
  canAct: boolean;
  csrf: string | null;
  path: string;
  now: Date;
}): Html {
  const search = html`<form method="get" action="/console/instance" class="search" role="search">
    <input
      type="search"
      name="q"
      value="${o.query}"
      placeholder="external id (oa-req-101) or legacy key (101)"
      autofocus
    />
    <button type="submit">find</button>
  </form>`;
  if (o.query.trim() === '')
    return html`<h1>Instance</h1>
      ${search}`;
  if (o.found.length === 0)
    return html`<h1>Instance</h1>
      ${search}
      <p class="notice">No instance has the external id or legacy key <code>${o.query}</code>.</p>`;
  return html`<h1>Instance</h1>
    ${search} ${o.found.map((f) => oneInstance(f, o))}`;
}

function oneInstance(
  f: FoundInstance,
  o: { canAct: boolean; csrf: string | null; path: string; now: Date },
): Html {
  const s = f.state;
  const status = !s
    ? 'not in the replica'
    : s.parkedAt
      ? 'parked'
      : s.version > s.syncedVersion
        ? s.attempts > 0
          ? 'retrying'
          : 'pending'
        : 'in sync';
  const preview = f.preview;
  return html`<article class="instance" data-instance="${f.externalId ?? ''}">
    <h2>
      ${f.externalId ?? '(no external id)'} <span class="badge ${status.replace(/ /g, '-')}">${status}</span>
    </h2>
    <p>
      mapping <code>${f.ref.mapping}</code>, key <code>${f.ref.key.join(', ')}</code>
      ${
        o.canAct && s
          ? actionForm(
              { action: '/console/instance/push', label: 'push again', csrf: o.csrf, back: o.path },
              { id: f.id },
            )
          : null
      }
    </p>
    ${
      s
        ? html`<table class="kv">
            <tr>
              <th>replica version</th>
              <td>${s.version}</td>
              <th>synced version</th>
              <td>${s.syncedVersion}</td>
            </tr>
            <tr>
              <th>lane</th>
              <td>${laneName(s.lane)}</td>
              <th>dirty for</th>
              <td>${s.version > s.syncedVersion ? age(s.dirtySince, o.now) : '-'}</td>
            </tr>
            <tr>
              <th>last synced</th>
              <td>${s.syncedAt ? s.syncedAt.toISOString() : '-'}</td>
              <th>pushes</th>
              <td>${s.pushes}</td>
            </tr>
            <tr>
              <th>attempts</th>
              <td>${s.attempts}</td>
              <th>next attempt</th>
              <td>${s.nextAttemptAt?.toISOString() ?? '-'}</td>
            </tr>
            ${
              s.parkedAt
                ? html`<tr>
                    <th>parked</th>
                    <td colspan="3">${s.parkedAt.toISOString()}: ${s.parkedReason}</td>
                  </tr>`
                : null
            }
            ${
              s.lastError
                ? html`<tr>
                    <th>last error</th>
                    <td colspan="3">${s.lastErrorCode}: ${s.lastError}</td>
                  </tr>`
                : null
            }
          </table>`
        : null
    }
    <h3>Payload it would push now</h3>
    ${
      preview.kind === 'payload'
        ? html`${
              preview.violations.length > 0
                ? html`<p class="notice">
                    Over Feishu's limits, it would be parked: ${preview.violations.join('; ')}
                  </p>`
                : null
            }
            <pre class="payload">${JSON.stringify(preview.payload, null, 2)}</pre>`
        : preview.kind === 'absent'
          ? html`<p class="notice">Nothing to push: ${preview.what}</p>`
          : html`<p class="notice">Cannot be mapped: ${preview.reason}</p>`
    }
    <h3>Push history</h3>
    <table class="history">
      <thead>
        <tr>
          <th>time</th>
          <th>version</th>
          <th>lane</th>
          <th>result</th>
          <th>Feishu code</th>
          <th>update_time</th>
          <th>message</th>
        </tr>
      </thead>
      <tbody>
        ${
          f.history.length === 0
            ? html`<tr>
                <td colspan="7">no push recorded</td>
              </tr>`
            : null
        }
        ${f.history.map(
          (h) =>
            html`<tr class="${h.result}">
              <td>${h.at.toISOString()}</td>
              <td class="num">${h.version}</td>
              <td>${laneName(h.lane)}</td>
              <td>${h.result}</td>
              <td>${h.code}</td>
              <td>${h.updateTime ?? ''}</td>
              <td class="reason">${h.message ?? ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${
      f.olderThan
        ? html`<p class="pager">
            <a
              href="/console/instance?q=${encodeURIComponent(f.externalId ?? f.ref.key.join(','))}&before=${f.olderThan}"
              >older pushes →</a
            >
          </p>`
        : null
    }
    <h3>Rows in the replica</h3>
    ${f.rows.map(
      ([q, rows]) =>
        html`<details open>
          <summary>
            ${q.table} where
            ${Object.entries(q.match)
              .map(([k, v]) => `${k} = ${v}`)
              .join(' and ')}:
            ${rows.length} row${rows.length === 1 ? '' : 's'}
          </summary>
          ${rows.length > 0 ? rowTable(rows.map((r) => ({ ...r.values, '(deleted)': r.deleted ? 'yes' : 'no' }))) : null}
        </details>`,
    )}
  </article>`;
}

function rowTable(rows: Record<string, string | null>[]): Html {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return html`<table class="rows">
    <thead>
      <tr>
        ${columns.map((c) => html`<th>${c}</th>`)}
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (r) =>
          html`<tr>
            ${columns.map((c) => html`<td>${r[c] === null ? html`<i>null</i>` : r[c]}</td>`)}
          </tr>`,
      )}
    </tbody>
  </table>`;
}
