// HTML for the console's pages: a tagged template that escapes every interpolated value unless it is
// already HTML, and the page layout. Invariant: no text from the database, the mappings or a request
// reaches a page unescaped (a legacy row can hold anything, including markup).

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Part = Html | string | number | bigint | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map((p: Part) => render(p)).join('');
  return escapeHtml(String(part));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** JSON for a `<script type="application/json">` block: `<` escaped so no text can close the block. */
export function jsonBlock(id: string, value: unknown): Html {
  const json = JSON.stringify(value).replace(/</g, '\\u003c');
  return new Html(`<script type="application/json" id="${escapeHtml(id)}">${json}</script>`);
}

export interface PageFrame {
  title: string;
  active: 'overview' | 'parked' | 'instance' | 'config';
  /** Whether actions are possible at all (an admin token is configured). */
  actionsEnabled: boolean;
  /** Signed in through the login form (or the request carried the token). */
  signedIn: boolean;
  csrf: string | null;
  /** The path of this page, to come back to after signing in. */
  path: string;
  notice?: string | undefined;
  extraHead?: Html;
}

export function page(frame: PageFrame, body: Html): Html {
  const tab = (id: PageFrame['active'], href: string, label: string) =>
    html`<a href="${href}" class="${frame.active === id ? 'active' : ''}">${label}</a>`;
  const auth = !frame.actionsEnabled
    ? html`<span class="mode" title="Set APPROVAL_CDC_ADMIN_TOKEN to enable actions">read-only</span>`
    : frame.signedIn
      ? html`<form method="post" action="/console/logout" class="inline">
          <input type="hidden" name="csrf" value="${frame.csrf ?? ''}" />
          <button type="submit">sign out</button>
        </form>`
      : html`<a class="mode" href="/console/login?next=${encodeURIComponent(frame.path)}"
          >sign in for actions</a
        >`;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${frame.title} · approval-cdc</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        ${frame.extraHead}
        <script src="/console/assets/console.js" defer></script>
      </head>
      <body>
        <header>
          <strong>approval-cdc</strong>
          <nav>
            ${tab('overview', '/console/', 'Overview')} ${tab('parked', '/console/parked', 'Parked')}
            ${tab('instance', '/console/instance', 'Instance')}
            ${tab('config', '/console/config', 'Configuration')}
          </nav>
          ${auth}
        </header>
        ${frame.notice ? html`<p class="notice" role="status">${frame.notice}</p>` : null}
        <main id="main">${body}</main>
      </body>
    </html>`;
}

/** A POST form for one action: the CSRF token, where to come back, and hidden fields. */
export function actionForm(
  o: { action: string; label: string; csrf: string | null; back: string; confirm?: string; danger?: boolean },
  fields: Record<string, string | readonly string[]> = {},
): Html {
  const hidden = Object.entries(fields).flatMap(([name, value]) =>
    (typeof value === 'string' ? [value] : value).map(
      (v) => html`<input type="hidden" name="${name}" value="${v}" />`,
    ),
  );
  return html`<form
    method="post"
    action="${o.action}"
    class="inline"
    ${o.confirm ? html`data-confirm="${o.confirm}"` : null}
  >
    <input type="hidden" name="csrf" value="${o.csrf ?? ''}" />
    <input type="hidden" name="back" value="${o.back}" />
    ${hidden}
    <button type="submit" class="${o.danger ? 'danger' : ''}">${o.label}</button>
  </form>`;
}

export function age(from: Date | null, now: Date): string {
  if (!from) return '-';
  const s = Math.max(0, (now.getTime() - from.getTime()) / 1000);
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}
