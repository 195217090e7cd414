// The operator's web console, served by the daemon next to /metrics: routes, the safety checks every
// request passes, and the actions. Invariants:
// - read-only unless an admin token is configured; every action is a POST that ConsoleAuth allows
//   (the token in a header, or a login session with its CSRF token), and is logged with who and what;
// - actions change sync state only through the instance table's owner, with the statements the CLI
//   uses (retryParked and dropParked of `parked`, requeue of `resync`), never with SQL of their own;
// - served on a loopback address, it answers only requests whose Host is a loopback name (a web page
//   cannot reach it through DNS rebinding); every page forbids framing, inline and foreign scripts;
// - no CDN: the script, the style sheet and uPlot are served from here, so it works offline.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Kysely } from 'kysely';
import type { StateDb } from '../replica/state-schema.js';
import type { Settings } from '../config/settings.js';
import { CdcError, describeError } from '../errors.js';
import type { CompiledMappingSet } from '../mapping/mapping-set.js';
import type { Readiness } from '../observe/health-server.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { SampleRing } from '../observe/sample-ring.js';
import { LANE_LIVE } from '../replica/instance-vocabulary.js';
import { InstanceTable } from '../replica/instance-table.js';
import { InstanceViews } from '../replica/instance-views.js';
import { PushHistory } from '../sync/push-history.js';
import { CONSOLE_CSS, CONSOLE_SCRIPT } from './console-assets.js';
import { ConsoleAuth, sameOrigin, type Session } from './console-auth.js';
import { configBody } from './config-page.js';
import { html, page, type Html, type PageFrame } from './html.js';
import { lookUpInstances } from './instance-lookup.js';
import { instanceBody } from './instance-page.js';
import { overviewBody } from './overview-page.js';
import { parkedBody, parkedQueryOf } from './parked-page.js';

export interface ConsoleOptions {
  settings: Settings;
  mappings: CompiledMappingSet;
  db: Kysely<StateDb>;
  metrics: Metrics;
  samples: SampleRing;
  readiness: () => Promise<Readiness>;
  logger: Logger;
  /** Called after an action changed sync state (the scheduler looks for due instances at once). */
  onChange?: () => void;
  /** The host the server listens on. */
  listenHost: string;
  now?: () => Date;
}

/** Handles a request if it is the console's; false when it is not (the caller answers 404). */
export type ConsoleHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

const MAX_BODY = 256 * 1024;
const require = createRequire(import.meta.url);

export function createConsole(o: ConsoleOptions): ConsoleHandler {
  const auth = new ConsoleAuth(o.settings.adminToken);
  const schema = o.settings.stateSchema;
  const store = new InstanceTable(o.db, schema);
  const now = o.now ?? (() => new Date());
  const loopbackOnly = isLoopback(o.listenHost);
  const assets = new Map<string, { type: string; body: () => string }>([
    ['/console/assets/console.js', { type: 'text/javascript', body: () => CONSOLE_SCRIPT }],
    ['/console/assets/console.css', { type: 'text/css', body: () => CONSOLE_CSS }],
    ['/console/assets/uplot.js', { type: 'text/javascript', body: once('uplot/dist/uPlot.iife.min.js') }],
    ['/console/assets/uplot.css', { type: 'text/css', body: once('uplot/dist/uPlot.min.css') }],
  ]);

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    extra: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, ...SECURITY_HEADERS, ...extra });
    res.end(body);
  };
  const frameOf = (req: IncomingMessage, path: string, active: PageFrame['active'], title: string) => {
    const session = auth.sessionOf(req);
    const url = new URL(path, 'http://console');
    return {
      title,
      active,
      actionsEnabled: auth.actionsEnabled,
      signedIn: session !== null,
      csrf: session?.csrf ?? null,
      path,
      notice: url.searchParams.get('notice') ?? undefined,
    } satisfies PageFrame;
  };
  const respondPage = (req: IncomingMessage, res: ServerResponse, frame: PageFrame, body: Html) => {
    if (req.headers['x-console-fragment'] === 'main') send(res, 200, 'text/html', body.text);
    else send(res, 200, 'text/html', page(frame, body).text);
  };

  async function get(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const path = url.pathname + url.search;
    const asset = assets.get(url.pathname);
    if (asset) {
      res.writeHead(200, {
        'content-type': `${asset.type}; charset=utf-8`,
        ...SECURITY_HEADERS,
        'cache-control': 'max-age=300',
      });
      res.end(asset.body());
      return true;
    }
    switch (url.pathname) {
      case '/':
      case '/console':
        res.writeHead(302, { location: '/console/' }).end();
        return true;
      case '/console/': {
        const frame = frameOf(req, path, 'overview', 'Overview');
        const body = await overviewBody({
          metrics: o.metrics,
          samples: o.samples,
          readiness: await o.readiness(),
          recentPushes: await new PushHistory(o.db, schema).countsSince(
            new Date(now().getTime() - 3_600_000),
          ),
        });
        respondPage(req, res, { ...frame, extraHead: uplotHead() }, body);
        return true;
      }
      case '/console/parked': {
        const frame = frameOf(req, path, 'parked', 'Parked');
        const body = await parkedBody({
          db: o.db,
          schema,
          query: parkedQueryOf(url.searchParams),
          canAct: frame.signedIn,
          csrf: frame.csrf,
          path,
          now: now(),
        });
        respondPage(req, res, frame, body);
        return true;
      }
      case '/console/instance': {
        const frame = frameOf(req, path, 'instance', 'Instance');
        const query = url.searchParams.get('q') ?? '';
        const found = await lookUpInstances({
          db: o.db,
          schema,
          mappings: o.mappings,
          query,
          before: url.searchParams.get('before') ?? undefined,
        });
        const body = instanceBody({
          query,
          found,
          canAct: frame.signedIn,
          csrf: frame.csrf,
          path,
          now: now(),
        });
        respondPage(req, res, frame, body);
        return true;
      }
      case '/console/config':
        respondPage(
          req,
          res,
          frameOf(req, path, 'config', 'Configuration'),
          configBody(o.settings, o.mappings),
        );
        return true;
      case '/console/login': {
        const next = safeBack(url.searchParams.get('next'));
        respondPage(
          req,
          res,
          frameOf(req, path, 'overview', 'Sign in'),
          loginForm(auth.actionsEnabled, next, null),
        );
        return true;
      }
      default:
        return false;
    }
  }

  async function post(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const known = ['/console/login', '/console/logout', '/console/parked/retry', '/console/parked/drop'];
    if (!known.includes(url.pathname) && url.pathname !== '/console/instance/push') return false;
    const form = await readForm(req);
    const remote = req.socket.remoteAddress ?? '?';
    if (url.pathname === '/console/login') {
      const next = safeBack(form.get('next'));
      const session: Session | null = sameOrigin(req) ? auth.login(form.get('token') ?? '') : null;
      if (!session) {
        o.logger.warn({ remote }, 'console sign-in refused');
        const frame = frameOf(req, '/console/login', 'overview', 'Sign in');
        send(
          res,
          401,
          'text/html',
          page(frame, loginForm(auth.actionsEnabled, next, 'That is not the admin token.')).text,
        );
        return true;
      }
      o.logger.info({ remote }, 'console sign-in');
      res
        .writeHead(303, { location: next, 'set-cookie': auth.setCookieHeader(session), ...SECURITY_HEADERS })
        .end();
      return true;
    }
    if (url.pathname === '/console/logout') {
      if (sameOrigin(req)) auth.logout(req);
      res.writeHead(303, {
        location: '/console/',
        'set-cookie': ConsoleAuth.clearCookieHeader(),
        ...SECURITY_HEADERS,
      });
      res.end();
      return true;
    }
    const back = form.get('back');
    const verdict = auth.authorize(req, form.get('csrf'));
    if (!verdict.ok) {
      o.logger.warn({ remote, action: url.pathname, reason: verdict.reason }, 'console action refused');
      refuse(res, verdict.status, verdict.reason, back !== null);
      return true;
    }
    const ids = form.getAll('id').filter((id) => id !== '');
    let done: string;
    let count: number;
    switch (url.pathname) {
      case '/console/parked/retry': {
        const reason = form.get('reason');
        const group = reason !== null ? { code: form.get('code') ?? '', reasonClass: reason } : null;
        count = group
          ? await retryGroup(store, new InstanceViews(o.db, schema), group)
          : ids.length > 0
            ? await store.retryParked(ids)
            : 0;
        done = `${count} parked instance${count === 1 ? '' : 's'} will be tried again`;
        o.logger.info(
          { remote, by: verdict.by, action: 'parked retry', count, ids: ids.slice(0, 20), group },
          done,
        );
        break;
      }
      case '/console/parked/drop':
        count = ids.length > 0 ? await store.dropParked(ids) : 0;
        done = `${count} parked instance${count === 1 ? '' : 's'} dropped (their current version is not pushed)`;
        o.logger.info({ remote, by: verdict.by, action: 'parked drop', count, ids: ids.slice(0, 20) }, done);
        break;
      default:
        count = await store.requeue(ids, LANE_LIVE);
        done = `${count} instance${count === 1 ? '' : 's'} will be pushed again (live lane)`;
        o.logger.info({ remote, by: verdict.by, action: 'push again', count, ids: ids.slice(0, 20) }, done);
    }
    if (count > 0) o.onChange?.();
    if (back !== null) {
      const target = new URL(safeBack(back), 'http://console');
      target.searchParams.set('notice', done);
      res.writeHead(303, { location: target.pathname + target.search, ...SECURITY_HEADERS }).end();
    } else {
      send(res, 200, 'application/json', JSON.stringify({ ok: true, count, message: done }));
    }
    return true;
  }

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://console');
    if (url.pathname !== '/' && url.pathname !== '/console' && !url.pathname.startsWith('/console/'))
      return false;
    if (loopbackOnly && !isLoopback(hostOf(req.headers.host))) {
      send(
        res,
        421,
        'text/plain',
        'the console answers only loopback host names (localhost, 127.0.0.1, [::1])\n',
      );
      return true;
    }
    try {
      if (req.method === 'GET' || req.method === 'HEAD') return await get(req, res, url);
      if (req.method === 'POST') return await post(req, res, url);
      send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, POST' });
      return true;
    } catch (error) {
      o.logger.error({ err: error, path: url.pathname }, 'console request failed');
      if (!res.headersSent) send(res, 500, 'text/plain', `console error: ${describeError(error)}\n`);
      else res.end();
      return true;
    }
  };
}

/** Retries every parked instance of a group, a bounded page at a time. */
async function retryGroup(
  store: InstanceTable,
  views: InstanceViews,
  group: { code: string; reasonClass: string },
): Promise<number> {
  let total = 0;
  for (;;) {
    const { items } = await views.parkedPage({ group, limit: 1000 });
    if (items.length === 0) return total;
    const n = await store.retryParked(items.map((i) => i.externalId));
    if (n === 0) return total;
    total += n;
  }
}

function refuse(res: ServerResponse, status: number, reason: string, fromPage: boolean): void {
  res.writeHead(status, {
    'content-type': `${fromPage ? 'text/html' : 'application/json'}; charset=utf-8`,
    ...SECURITY_HEADERS,
  });
  res.end(
    fromPage
      ? html`<!doctype html><title>refused</title>
          <p>Refused: ${reason}.</p>
          <p><a href="/console/">back</a></p>`.text
      : JSON.stringify({ ok: false, error: reason }),
  );
}

function loginForm(enabled: boolean, next: string, error: string | null): Html {
  if (!enabled) {
    return html`<h1>Sign in</h1>
      <p class="notice">
        The console is read-only: no admin token is configured. Set <code>APPROVAL_CDC_ADMIN_TOKEN</code> and
        restart to enable retry, drop and push again.
      </p>`;
  }
  return html`<h1>Sign in</h1>
    <form method="post" action="/console/login" class="login">
      ${error ? html`<p class="notice" role="alert">${error}</p>` : null}
      <label
        >Admin token (APPROVAL_CDC_ADMIN_TOKEN)<input
          type="password"
          name="token"
          autocomplete="current-password"
          required
          autofocus
      /></label>
      <input type="hidden" name="next" value="${next}" />
      <button type="submit">sign in</button>
    </form>`;
}

function uplotHead(): Html {
  return html`<link rel="stylesheet" href="/console/assets/uplot.css" />
    <script src="/console/assets/uplot.js" defer></script>`;
}

/** A path inside the console to go back to; anything else (another site, a scheme) becomes the overview. */
function safeBack(path: string | null): string {
  return path && /^\/console(\/|$|\?)/.test(path) && !path.startsWith('//') ? path : '/console/';
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new CdcError('HTTP_REQUEST', 'request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function hostOf(header: string | undefined): string {
  if (!header) return '';
  if (header.startsWith('[')) return header.slice(0, header.indexOf(']') + 1);
  const i = header.lastIndexOf(':');
  return i < 0 ? header : header.slice(0, i);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function once(modulePath: string): () => string {
  let text: string | null = null;
  return () => (text ??= readFileSync(require.resolve(modulePath), 'utf8'));
}
