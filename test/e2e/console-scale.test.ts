// The console against a large state: 100,000 parked instances under four reasons and a long push
// history. Every page is one bounded, keyset-paged answer (50 parked rows, 20 pushes) however deep
// it goes (Chromium renders the parked page and follows its next link; parked-100000.png), and a
// group retry works through the set a bounded page at a time. Timings are printed as
// one JSON line, never asserted. Also: a console without an admin token refuses every action, and a
// loopback console refuses a foreign Host header (DNS rebinding).
import { request, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/settings.js';
import { createConsole } from '../../src/console/console-server.js';
import { loadMappings } from '../../src/mapping/mapping-loader.js';
import { createLogger } from '../../src/core/logger.js';
import { createMetrics } from '../../src/observe/metrics.js';
import { startHealthServer } from '../../src/observe/health-server.js';
import { SampleRing } from '../../src/observe/sample-ring.js';
import { openStateDb, type StateConnection } from '../../src/replica/state-db.js';
import { LEGACY_MAPPINGS } from '../support/connector-fixture.js';
import { createTestDatabase, DEFAULT_STATE_SCHEMA, type TestDatabase } from '../support/test-database.js';
import { freePort } from '../support/throwaway-postgres.js';
import { ARTIFACTS, launchBrowser } from '../support/browser.js';

const PARKED = 100_000;
const TOKEN = 'scale-test-admin-token-1234';
const schema = DEFAULT_STATE_SCHEMA;

describe('the console with 100,000 parked instances and a long history', () => {
  let db: TestDatabase;
  let state: StateConnection;
  const servers: Server[] = [];
  let base: string;
  let readOnlyBase: string;
  const timings: Record<string, number> = {};

  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await f();
    } finally {
      timings[name] = Math.round(performance.now() - start);
    }
  };
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, text: await res.text() };
  };
  // fetch() does not let a caller set Host; a DNS-rebound page's request carries the attacker's name.
  const statusWithHost = (path: string, host: string) =>
    new Promise<number>((resolve, reject) => {
      const url = new URL(`${base}${path}`);
      const req = request({ host: url.hostname, port: url.port, path, headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  const rows = (text: string, cls: string) => {
    const body = text.split(`<table class="${cls}">`)[1]?.split('</table>')[0] ?? '';
    return [...body.matchAll(/data-instance="([^"]*)"/g)].map((m) => m[1] as string);
  };
  const nextLink = (text: string) => /href="([^"]*)" rel="next"/.exec(text)?.[1]?.replace(/&amp;/g, '&');

  beforeAll(async () => {
    db = await createTestDatabase('console_scale');
    state = openStateDb(db.url, schema, { max: 4 });
    // Four reasons; the instance-specific parts (ids) differ in every row, as real reasons do.
    await state.pool.query(
      `insert into ${schema}.instance (id, mapping, key, external_id, version, synced_version, attempts,
         parked_at, parked_reason, last_error_code)
       select '["oa-request","' || g || '"]', 'oa-request', jsonb_build_array(g::text), 'oa-req-' || g, 2, 1, 1,
         now() - make_interval(secs => ${PARKED} - g),
         case g % 4
           when 0 then 'MAPPING_UNMAPPABLE: mapping oa-request instance req_id=' || g || ': task oa.steps (step_id=' || g * 10 || ') field user_id: is required'
           when 1 then 'FEISHU_API: HTTP 400 code 1390001 param is invalid: form'
           when 2 then 'PAYLOAD_LIMIT: task_list has ' || (200 + g % 50) || ' tasks; at most 200'
           else 'FEISHU_API: HTTP 400 code 1390001 param is invalid: "node-' || g || '" unknown'
         end,
         case g % 4 when 0 then 'MAPPING_UNMAPPABLE' when 2 then 'PAYLOAD_LIMIT' else '1390001' end
       from generate_series(1, ${PARKED}) g`,
    );
    // What InstanceTable.park() stores with each reason (migration 0016b's expression).
    await state.pool.query(
      `update ${schema}.instance set parked_class = regexp_replace(regexp_replace(parked_reason, '"[^"]*"', '"…"', 'g'),
         '[0-9]+', '#', 'g')`,
    );
    // A long history: 100,000 pushes spread over instances, and 300 of one instance.
    await state.pool.query(
      `insert into ${schema}.push_history (at, instance_id, external_id, version, lane, result, code, message)
       select now() - make_interval(secs => 200000 - g), '["oa-request","' || (g % ${PARKED} + 1) || '"]',
         'oa-req-' || (g % ${PARKED} + 1), 1, 1, 'parked', '1390001', 'param is invalid'
       from generate_series(1, 100000) g
       union all
       select now() - make_interval(secs => 300 - g), '["oa-request","7"]', 'oa-req-7', g, 0,
         case when g % 3 = 0 then 'retry' else 'accepted' end, case when g % 3 = 0 then '1395001' else '0' end, null
       from generate_series(1, 300) g`,
    );
    await state.pool.query(`analyze ${schema}.instance; analyze ${schema}.push_history`);

    const mappings = loadMappings(LEGACY_MAPPINGS);
    const logger = createLogger('silent');
    for (const adminToken of [TOKEN, undefined]) {
      const port = await freePort();
      const address = `127.0.0.1:${port}`;
      const settings = loadSettings({
        overrides: { sourceUrl: db.url, mappings: LEGACY_MAPPINGS, metricsAddress: address, adminToken },
      });
      const metrics = createMetrics();
      const handler = createConsole({
        settings,
        mappings,
        db: state.db,
        metrics,
        samples: new SampleRing(1800),
        readiness: async () => ({ ready: true, checks: {} }),
        logger,
        listenHost: '127.0.0.1',
      });
      servers.push(
        await startHealthServer(address, metrics, async () => ({ ready: true, checks: {} }), handler),
      );
      if (adminToken) base = `http://${address}`;
      else readOnlyBase = `http://${address}`;
    }
  });
  afterAll(async () => {
    console.log(JSON.stringify({ consoleScale: { parked: PARKED, ms: timings } }));
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await state?.close();
    await db?.drop();
  });

  it('shows the groups with their counts and one page of 50, and pages deep at the same cost', async () => {
    const first = await timed('parkedFirstPage', () => get('/console/parked'));
    expect(first.status).toBe(200);
    const counts = [...first.text.matchAll(/<tr class="group"[\s\S]*?<td class="num">(\d+)<\/td>/g)].map(
      (m) => Number(m[1]),
    );
    // 1390001 twice: "param is invalid: form" and "param is invalid: "node-…" unknown" are two problems.
    expect(counts).toEqual([25_000, 25_000, 25_000, 25_000]);
    expect(first.text.match(/<tr class="group" data-code="1390001">/g)).toHaveLength(2);
    expect(first.text).toContain(`Parked instances <span class="count">${PARKED}</span>`);
    const ids = rows(first.text, 'parked');
    expect(ids).toHaveLength(50);
    expect(ids[0]).toBe('oa-req-1');
    // A bounded page: the HTML does not grow with the parked set.
    expect(first.text.length).toBeLessThan(100_000);

    let link = nextLink(first.text);
    let page = first;
    const seen = new Set(ids);
    for (let i = 0; i < 5; i++) {
      expect(link).toBeDefined();
      page = await timed(`parkedPage${i + 2}`, () => get(link as string));
      const more = rows(page.text, 'parked');
      expect(more).toHaveLength(50);
      for (const id of more) expect(seen.has(id)).toBe(false);
      more.forEach((id) => seen.add(id));
      link = nextLink(page.text);
    }
    expect([...seen].at(-1)).toBe('oa-req-300');
  });

  it('renders the parked page of 100,000 in Chromium and pages on from its link', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await timed('browserParked', () => page.goto(`${base}/console/parked`));
      expect(await page.locator('table.parked tbody tr').count()).toBe(50);
      expect(await page.locator('tr.group').count()).toBe(4);
      await page.screenshot({ path: `${ARTIFACTS}parked-100000.png`, fullPage: true });
      await timed('browserParkedNext', () => page.click('a[rel=next]'));
      await page.waitForURL(/after=/);
      await expect(page.locator('table.parked tbody tr').first().getAttribute('data-instance')).resolves.toBe(
        'oa-req-51',
      );
    } finally {
      await browser.close();
    }
  });

  it('lists one group (its reason with ids blanked) a page at a time', async () => {
    const overview = await get('/console/parked');
    const href = /href="(\/console\/parked\?code=PAYLOAD_LIMIT[^"]*)"/
      .exec(overview.text)?.[1]
      ?.replace(/&amp;/g, '&');
    expect(href).toBeDefined();
    const group = await timed('groupPage', () => get(href as string));
    const ids = rows(group.text, 'parked');
    expect(ids).toHaveLength(50);
    for (const id of ids) expect(Number(id.slice('oa-req-'.length)) % 4).toBe(2);
    expect(group.text).toContain('25000 parked with PAYLOAD_LIMIT');
  });

  it('shows 20 pushes of a long history at a time, older ones a page further', async () => {
    const found = await timed('instancePage', () => get('/console/instance?q=oa-req-7'));
    const versions = (text: string) =>
      [
        ...text.matchAll(/<tr class="(?:accepted|retry)">\s*<td>[^<]*<\/td>\s*<td class="num">(\d+)<\/td>/g),
      ].map((m) => Number(m[1]));
    expect(versions(found.text)).toEqual(Array.from({ length: 20 }, (_, i) => 300 - i));
    const older = /href="([^"]*before=[^"]*)"/.exec(found.text)?.[1]?.replace(/&amp;/g, '&');
    const next = await timed('instanceOlderPage', () => get(older as string));
    expect(versions(next.text)).toEqual(Array.from({ length: 20 }, (_, i) => 280 - i));
  });

  it('retries a whole group of 25,000 through bounded pages', async () => {
    const res = await timed('retryGroup25000', () =>
      fetch(`${base}/console/parked/retry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          code: 'PAYLOAD_LIMIT',
          reason: 'PAYLOAD_LIMIT: task_list has # tasks; at most #',
        }).toString(),
      }),
    );
    expect(await res.json()).toMatchObject({ ok: true, count: 25_000 });
    const left = await state.pool.query<{ n: number }>(
      `select count(*)::int as n from ${schema}.instance where parked_at is not null`,
    );
    expect(left.rows[0]?.n).toBe(PARKED - 25_000);
  });

  it('refuses every action when no admin token is configured, and a foreign Host', async () => {
    const res = await fetch(`${readOnlyBase}/console/parked/drop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'id=oa-req-1',
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('read-only');
    const page = await (await fetch(`${readOnlyBase}/console/parked`)).text();
    expect(page).not.toContain('<button');
    expect(await statusWithHost('/console/', 'attacker.example:80')).toBe(421);
    expect(await statusWithHost('/console/', 'localhost:9187')).toBe(200);
  });
});
