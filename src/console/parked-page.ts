// The console's parked page: parked instances grouped by reason with counts, and one page of
// instances (of a group, or all) with reason and age, each with retry and drop. Invariant: bounded
// work whatever the number of parked instances - at most 100 groups and one keyset page of 50.
import type { Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import { InstanceViews, type ParkedCursor } from '../replica/instance-views.js';
import { actionForm, age, html, type Html } from './html.js';

export const PARKED_PAGE = 50;

export interface ParkedQuery {
  code: string | null;
  reason: string | null;
  after: ParkedCursor | null;
}

export function parkedQueryOf(params: URLSearchParams): ParkedQuery {
  const after = params.get('after');
  const sep = after ? after.lastIndexOf('|') : -1;
  return {
    code: params.get('code'),
    reason: params.get('reason'),
    after: after && sep > 0 ? { parkedAt: after.slice(0, sep), id: after.slice(sep + 1) } : null,
  };
}

export async function parkedBody(o: {
  db: Kysely<StateDb>;
  schema: string;
  query: ParkedQuery;
  canAct: boolean;
  csrf: string | null;
  path: string;
  now: Date;
}): Promise<Html> {
  const store = new InstanceViews(o.db, o.schema);
  const groups = await store.parkedGroups(100);
  const group = o.query.reason !== null ? { code: o.query.code ?? '', reasonClass: o.query.reason } : null;
  const page = await store.parkedPage({
    ...(group ? { group } : {}),
    ...(o.query.after ? { after: o.query.after } : {}),
    limit: PARKED_PAGE,
  });
  const total = groups.reduce((n, g) => n + g.count, 0);
  const groupLink = (code: string, reason: string) =>
    `/console/parked?code=${encodeURIComponent(code)}&reason=${encodeURIComponent(reason)}`;
  const act = (action: 'retry' | 'drop', label: string, fields: Record<string, string | string[]>) =>
    o.canAct
      ? actionForm(
          {
            action: `/console/parked/${action}`,
            label,
            csrf: o.csrf,
            back: o.path,
            danger: action === 'drop',
            ...(action === 'drop'
              ? {
                  confirm:
                    'Drop gives up on the current version of these instances (nothing is pushed). Drop?',
                }
              : {}),
          },
          fields,
        )
      : null;
  const selected = group
    ? groups.find((g) => g.code === group.code && g.reasonClass === group.reasonClass)
    : null;

  return html` <h1>Parked instances <span class="count">${total}</span></h1>
    <p class="hint">
      A parked instance is not pushed until its rows change, or until it is retried here or with
      <code>approval-cdc parked retry</code>. Fix the data or the mapping first; drop gives up on its current
      version.
    </p>
    <table class="groups">
      <thead>
        <tr>
          <th>code</th>
          <th>reason</th>
          <th>instances</th>
          <th>oldest</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${
          groups.length === 0
            ? html`<tr>
                <td colspan="5">nothing is parked</td>
              </tr>`
            : null
        }
        ${groups.map(
          (g) =>
            html`<tr class="group" data-code="${g.code}">
              <td>${g.code}</td>
              <td><a href="${groupLink(g.code, g.reasonClass)}" title="${g.reasonClass}">${g.example}</a></td>
              <td class="num">${g.count}</td>
              <td>${age(g.oldest, o.now)}</td>
              <td>${act('retry', `retry all ${g.count}`, { code: g.code, reason: g.reasonClass })}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>
      ${
        selected
          ? html`${selected.count} parked with ${selected.code}: <q>${selected.example}</q>
              <a href="/console/parked">(all)</a>`
          : group
            ? html`no instance is parked for that reason now <a href="/console/parked">(all)</a>`
            : html`All parked, oldest first`
      }
    </h2>
    <form method="post" action="/console/parked/retry" id="selection">
      <input type="hidden" name="csrf" value="${o.csrf ?? ''}" />
      <input type="hidden" name="back" value="${o.path}" />
    </form>
    <table class="parked">
      <thead>
        <tr>
          ${o.canAct ? html`<th><input type="checkbox" data-select-all="selection" title="select all" /></th>` : null}
          <th>instance</th>
          <th>mapping</th>
          <th>code</th>
          <th>reason</th>
          <th>attempts</th>
          <th>parked for</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${page.items.map(
          (p) =>
            html`<tr data-instance="${p.externalId}">
              ${
                o.canAct
                  ? html`<td>
                      <input type="checkbox" name="id" value="${p.externalId}" form="selection" />
                    </td>`
                  : null
              }
              <td><a href="/console/instance?q=${encodeURIComponent(p.externalId)}">${p.externalId}</a></td>
              <td>${p.mapping}</td>
              <td>${p.code ?? ''}</td>
              <td class="reason">${p.reason}</td>
              <td class="num">${p.attempts}</td>
              <td>${age(p.parkedAt, o.now)}</td>
              <td class="actions">
                ${act('retry', 'retry', { id: p.externalId })} ${act('drop', 'drop', { id: p.externalId })}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p class="pager">
      ${
        o.canAct && page.items.length > 0
          ? html`<button type="submit" form="selection">retry selected</button>
              <button
                type="submit"
                form="selection"
                formaction="/console/parked/drop"
                class="danger"
                data-confirm="Drop gives up on the current version of the selected instances. Drop?"
              >
                drop selected
              </button>`
          : null
      }
      ${o.query.after ? html`<a href="${pagePath(o.query, null)}">first page</a>` : null}
      ${page.next ? html`<a href="${pagePath(o.query, page.next)}" rel="next">next ${PARKED_PAGE} →</a>` : null}
    </p>`;
}

function pagePath(q: ParkedQuery, after: ParkedCursor | null): string {
  const params = new URLSearchParams();
  if (q.reason !== null) {
    params.set('code', q.code ?? '');
    params.set('reason', q.reason);
  }
  if (after) params.set('after', `${after.parkedAt}|${after.id}`);
  const text = params.toString();
  return `/console/parked${text ? `?${text}` : ''}`;
}
