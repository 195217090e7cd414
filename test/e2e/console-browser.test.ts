// The console in a real headless Chromium against the running connector: the overview holds the same
// numbers as /metrics, a parked instance is listed under its reason and a retry from the page
// un-parks it, an instance search shows its payload and push history, and actions without the
// admin token are refused. Each page is screenshotted to test-artifacts/console/.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstanceViews } from '../../src/replica/instance-views.js';
import { ARTIFACTS, launchBrowser } from '../support/browser.js';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.js';
import { freePort } from '../support/throwaway-postgres.js';

const TOKEN = 'console-test-token-7f3a9c';
const request = (id: number, approver: number) =>
  `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at)
     values (${id}, 1, 'Request ${id}', 1, 1, '2026-11-20 09:00:00', '2026-11-20 09:00:00');
   insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
     values (${id * 10}, ${id}, 1, 'Manager', ${approver}, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00')`;

describe('the console in a browser', () => {
  let fx: ConnectorFixture;
  let browser: Browser;
  let page: Page;
  let base: string;
  let store: InstanceViews;

  const parked = async (id: string) => (await store.listParked()).some((p) => p.externalId === id);

  beforeAll(async () => {
    const port = await freePort();
    [fx, browser] = await Promise.all([
      startConnectorFixture({ settings: { metricsAddress: `127.0.0.1:${port}`, adminToken: TOKEN } }),
      launchBrowser(),
    ]);
    base = `http://127.0.0.1:${port}`;
    store = new InstanceViews((fx.pipeline as any).state.db, fx.settings.stateSchema);
    await seedUsers(fx.sql);
    await fx.sql.query(
      `insert into oa.users (user_no, login, display_name, feishu_uid) values (99, 'ghost', 'Not in Feishu', null)`,
    );
    // oa-req-7: Feishu rejects its payload once (1390001), so it is parked until someone retries it.
    fx.fake.faults.set({ failNext: { count: 1, status: 400, code: 1390001, msg: 'param is invalid: form' } });
    await fx.sql.query(request(7, 2));
    await waitFor(() => parked('oa-req-7'), 20_000, 'oa-req-7 parked');
    // oa-req-5: an approver without a Feishu id, parked by the mapping (another reason).
    await fx.sql.query(request(5, 99));
    await fx.sql.query(request(8, 3));
    await waitFor(() => parked('oa-req-5'), 20_000, 'oa-req-5 parked');
    await waitFor(() => fx.fake.instance('oa-req-8'), 20_000, 'oa-req-8 in Feishu');
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  afterAll(async () => {
    await browser?.close();
    await fx?.close();
  });

  it('shows on the overview the numbers /metrics serves, with the last hour as charts', async () => {
    // The probe samples every 2 s; wait for two samples so the charts have a line.
    await waitFor(() => fx.pipeline!.samples.length >= 2, 20_000, 'two lag samples');
    let compared: string[] = [];
    await waitFor(
      async () => {
        await page.goto(`${base}/console/`);
        const shown = await page.$$eval('[data-metric]', (els) =>
          els.map((e) => ({
            name: e.getAttribute('data-metric') ?? '',
            labels: JSON.parse(e.getAttribute('data-labels') ?? '{}') as Record<string, string>,
            value: e.getAttribute('data-value') ?? '',
          })),
        );
        const samples = parsePrometheusText(await (await fetch(`${base}/metrics`)).text());
        const differ = shown.filter((s) => Number(s.value) !== sampleValue(samples, s.name, s.labels));
        compared = shown.map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`);
        return differ.length === 0 && shown.length > 0;
      },
      20_000,
      'the overview to equal /metrics',
    );
    expect(compared).toContain('approval_cdc_parked_instances{}=2');
    expect(compared).toContain('approval_cdc_leader{}=1');
    expect(compared).toContain('approval_cdc_pushes_total{"result":"parked","code":"1390001"}=1');
    expect(compared.some((c) => c.startsWith('approval_cdc_slot_lag_bytes{}='))).toBe(true);
    await page.waitForSelector('[data-chart="lag"] .uplot');
    expect(await page.locator('.uplot').count()).toBe(3);
    await page.screenshot({ path: `${ARTIFACTS}overview.png`, fullPage: true });
  });

  it('lists a parked instance under its reason, and a retry from the page un-parks it', async () => {
    await page.goto(`${base}/console/parked`);
    const group = page.locator('tr.group[data-code="1390001"]');
    await expect(group.locator('td.num').textContent()).resolves.toBe('1');
    expect(await page.locator('tr.group').count()).toBe(2);
    // Read-only until signed in: no action buttons.
    expect(await page.locator('button', { hasText: 'retry' }).count()).toBe(0);
    await group.locator('a').click();
    await page.waitForURL(/code=1390001/);
    expect(await page.locator('table.parked tbody tr').count()).toBe(1);
    await expect(page.locator('tr[data-instance="oa-req-7"] td.reason').textContent()).resolves.toContain(
      'param is invalid',
    );
    await page.screenshot({ path: `${ARTIFACTS}parked.png`, fullPage: true });

    await page.click('text=sign in for actions');
    await page.fill('input[name=token]', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/console\/parked\?code=1390001/);
    await page.locator('tr[data-instance="oa-req-7"] button', { hasText: 'retry' }).click();
    await expect(page.locator('.notice').textContent()).resolves.toContain(
      '1 parked instance will be tried again',
    );
    await waitFor(() => fx.fake.instance('oa-req-7'), 20_000, 'oa-req-7 accepted by Feishu after the retry');
    expect(await parked('oa-req-7')).toBe(false);
    expect(await parked('oa-req-5')).toBe(true);
  });

  it('finds an instance by external id or legacy key and shows its payload and push history', async () => {
    await page.goto(`${base}/console/instance`);
    await page.fill('input[name=q]', 'oa-req-8');
    await page.press('input[name=q]', 'Enter');
    await page.waitForSelector('article.instance');
    const payload = JSON.parse((await page.locator('pre.payload').textContent()) ?? '{}');
    const stored = fx.fake.instance('oa-req-8');
    expect(payload).toMatchObject({ instance_id: 'oa-req-8', title: stored?.title, status: stored?.status });
    const history = page.locator('table.history tbody tr.accepted');
    expect(await history.count()).toBe(1);
    await expect(history.locator('td').nth(4).textContent()).resolves.toBe('0');
    await expect(history.locator('td').nth(5).textContent()).resolves.toBe(stored?.update_time);
    expect(await page.locator('details summary', { hasText: 'oa.steps' }).count()).toBeGreaterThan(0);
    await page.screenshot({ path: `${ARTIFACTS}instance.png`, fullPage: true });

    // The legacy key alone finds the same instance; "push again" queues another push of it.
    await page.goto(`${base}/console/instance?q=8`);
    await expect(page.locator('article.instance').getAttribute('data-instance')).resolves.toBe('oa-req-8');
    const before = fx.fake.pushes().filter((p) => p.instance_id === 'oa-req-8' && p.accepted).length;
    await page.click('button:has-text("push again")');
    await expect(page.locator('.notice').textContent()).resolves.toContain('1 instance will be pushed again');
    await waitFor(
      () => fx.fake.pushes().filter((p) => p.instance_id === 'oa-req-8' && p.accepted).length > before,
      20_000,
      'a second push of oa-req-8',
    );
  });

  it('shows the settings with secrets redacted and the loaded mappings', async () => {
    await page.goto(`${base}/console/config`);
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('APPROVAL_CDC_ADMIN_TOKEN');
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(fx.fake.appSecret);
    expect(text).toContain('oa-request');
    await page.screenshot({ path: `${ARTIFACTS}config.png`, fullPage: true });
  });

  it('refuses actions without the token, with a wrong token, and without the form token', async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
        redirect: 'manual',
      });
    expect((await post('/console/parked/retry', 'id=oa-req-5')).status).toBe(401);
    expect(
      (await post('/console/parked/drop', 'id=oa-req-5', { authorization: 'Bearer wrong' })).status,
    ).toBe(401);
    // The browser's session cookie without the page's CSRF token: what a forged cross-site form sends.
    const cookies = await page.context().cookies();
    const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    expect(cookie).toContain('approval_cdc_console=');
    expect((await post('/console/parked/drop', 'id=oa-req-5&csrf=forged', { cookie })).status).toBe(403);
    const foreign = await post('/console/parked/drop', 'id=oa-req-5', {
      cookie,
      origin: 'http://evil.example',
    });
    expect(foreign.status).toBe(403);
    expect(await parked('oa-req-5')).toBe(true);
    // The header token works for scripts.
    const ok = await post('/console/parked/retry', 'id=oa-req-5', { authorization: `Bearer ${TOKEN}` });
    expect(await ok.json()).toMatchObject({ ok: true, count: 1 });
  });
});
