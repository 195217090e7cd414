// Each lag metric of a running connector (a child process with /metrics on a free port) means what
// it says: slot lag bytes rise while the connector cannot read and fall back once it can; seconds since
// the last applied commit stay small on an idle database thanks to heartbeats; commit-to-accept counts
// pushes; the backlog by lane and the oldest pending age show what waits while Feishu is down and go
// back to zero after; /healthz and /readyz report streaming; refused credentials stop it before its slot.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startConnectorFixture,
  waitFor,
  type ConnectorFixture,
  settingsEnv,
} from '../support/connector-fixture.js';
import { seedUsers } from '../support/legacy-workload.js';
import { sampleValue, scrapeMetrics, type PromSample } from '../support/prometheus-text.js';
import { freePort } from '../support/throwaway-postgres.js';
import { cliEntry } from '../support/cli-entry.js';

/** The bundled CLI (test/support/cli-entry.ts): the same commands, a third of tsx's start-up CPU. */
const BIN = cliEntry();
const MiB = 1024 * 1024;

describe('lag metrics of a running connector', () => {
  let fx: ConnectorFixture;
  let main: ChildProcess;
  let mainUrl = '';
  const children: ChildProcess[] = [];

  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...settingsEnv(fx.settings),
    APPROVAL_CDC_MIN_PUSH_INTERVAL_MS: '0',
    APPROVAL_CDC_BATCH_MAX_WAIT_MS: '5',
    APPROVAL_CDC_STATUS_INTERVAL_MS: '300',
    APPROVAL_CDC_HEARTBEAT_INTERVAL_MS: '500',
    APPROVAL_CDC_STANDBY: 'false',
    APPROVAL_CDC_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...extra,
  });
  const startConnector = async (extra: Record<string, string> = {}) => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'run'], {
      env: env({ APPROVAL_CDC_METRICS_ADDRESS: `127.0.0.1:${port}`, ...extra }),
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return { child, url: `http://127.0.0.1:${port}` };
  };
  const metric = (samples: PromSample[], name: string, labels: Record<string, string> = {}) =>
    sampleValue(samples, name, labels) ?? 0;
  const sum = (samples: PromSample[], name: string) =>
    samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
  const currentLsn = async () =>
    BigInt(
      (await fx.sql.query<{ lsn: string }>(`select (pg_current_wal_lsn() - '0/0')::text as lsn`)).rows[0]
        ?.lsn ?? '0',
    );
  const insertRequests = async (ids: number[]) => {
    for (const id of ids) {
      await fx.sql.query(
        `begin;
         insert into oa.requests (req_id, form_type, title, applicant_no, status_code, amount, submitted_at, updated_at)
           values (${id}, 1, 'Request ${id}', 1, 1, 10, localtimestamp, localtimestamp);
         insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
           values (${id}, ${id}, 1, 'Manager', 2, 0, localtimestamp, localtimestamp);
         commit;`,
      );
    }
  };

  beforeAll(async () => {
    fx = await startConnectorFixture({ noPipeline: true });
    await seedUsers(fx.sql);
    await insertRequests([1, 2, 3]);
    ({ child: main, url: mainUrl } = await startConnector());
  });
  afterAll(async () => {
    for (const child of children) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await Promise.all(
      children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, 'exit')),
    );
    await fx?.close();
  });

  it('answers /healthz 200, and /readyz 200 once it streams', async () => {
    await waitFor(async () => (await fetch(`${mainUrl}/healthz`)).status === 200, 30_000, '/healthz 200');
    await waitFor(async () => (await fetch(`${mainUrl}/readyz`)).status === 200, 30_000, '/readyz 200');
    expect((await fetch(`${mainUrl}/healthz`)).status).toBe(200);
    const ready = (await (await fetch(`${mainUrl}/readyz`)).json()) as {
      ready: boolean;
      checks: Record<string, unknown>;
    };
    expect(ready).toEqual({ ready: true, checks: { streaming: true, stateDatabase: true, feishu: true } });
  });

  it('counts commit-to-accept once changes were pushed', async () => {
    await insertRequests([4]);
    await waitFor(() => fx.fake.instance('oa-req-4'), 20_000, 'oa-req-4 in Feishu');
    await waitFor(
      async () => sum(await scrapeMetrics(mainUrl), 'approval_cdc_commit_to_accept_seconds_count') > 0,
      10_000,
      'commit_to_accept count > 0',
    );
    const samples = await scrapeMetrics(mainUrl);
    expect(sum(samples, 'approval_cdc_commit_to_accept_seconds_sum')).toBeGreaterThanOrEqual(0);
    expect(metric(samples, 'approval_cdc_commit_to_accept_seconds_count', { lane: 'live' })).toBeGreaterThan(
      0,
    );
  });

  it('shows slot lag bytes rising while the connector is paused, and falling near zero after it resumes', async () => {
    main.kill('SIGSTOP');
    let paused = true;
    try {
      // ~5 MiB of WAL on a mapped table, all on one instance so that catching up pushes little.
      const start = await currentLsn();
      let end = start;
      let round = 0;
      while (end - start < BigInt(5 * MiB)) {
        round++;
        await fx.sql.query(
          `do $$ begin for i in 1..1000 loop
             update oa.requests set reason = repeat('x', 200) || '${round}-' || i, updated_at = localtimestamp where req_id = 1;
           end loop; end $$`,
        );
        end = await currentLsn();
      }
      const slot = await fx.sql.query<{ lag: string }>(
        `select (pg_current_wal_lsn() - confirmed_flush_lsn)::text as lag from pg_replication_slots where slot_name = $1`,
        [fx.settings.slotName],
      );
      expect(Number(slot.rows[0]?.lag)).toBeGreaterThanOrEqual(5 * MiB);

      // The paused connector cannot answer /metrics; `status` is the second observer.
      const status = await promisify(execFile)(process.execPath, [BIN, 'status', '--json'], {
        env: env({ APPROVAL_CDC_METRICS_ADDRESS: 'off' }),
      }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
      const report = JSON.parse(status.stdout) as {
        slot: { lagBytes: number | null; active: boolean } | null;
      };
      expect(report.slot?.lagBytes).toBeGreaterThanOrEqual(5 * MiB);

      main.kill('SIGCONT');
      paused = false;
      // A sample taken after the catch-up: its checkpoint is past the last write.
      const caughtUp = await waitFor(
        async () => {
          const samples = await scrapeMetrics(mainUrl);
          return metric(samples, 'approval_cdc_checkpoint_lsn') >= Number(end) &&
            metric(samples, 'approval_cdc_slot_lag_bytes') < MiB
            ? samples
            : null;
        },
        60_000,
        'slot lag bytes back near zero after the catch-up',
      );
      expect(metric(caughtUp, 'approval_cdc_slot_lag_bytes')).toBeLessThan(MiB);
      expect(metric(caughtUp, 'approval_cdc_slot_active')).toBe(1);
    } finally {
      if (paused) main.kill('SIGCONT');
    }

    // Idle database: only heartbeats commit, and they keep "seconds since the last applied commit" small.
    await waitFor(
      async () => {
        const samples = await scrapeMetrics(mainUrl);
        return (
          metric(samples, 'approval_cdc_replication_lag_seconds') < 5 &&
          metric(samples, 'approval_cdc_slot_lag_bytes') < MiB
        );
      },
      20_000,
      'seconds since the last applied commit < 5 on an idle database',
    );
  }, 120_000);

  it('shows the live backlog and the oldest pending age while Feishu is down, and zero again after it recovers', async () => {
    const backlog = (samples: PromSample[]) => ({
      live: metric(samples, 'approval_cdc_backlog_instances', { lane: 'live' }),
      backfill: metric(samples, 'approval_cdc_backlog_instances', { lane: 'backfill' }),
      oldest: metric(samples, 'approval_cdc_oldest_pending_seconds', { lane: 'live' }),
    });
    await waitFor(
      async () => {
        const b = backlog(await scrapeMetrics(mainUrl));
        return b.live === 0 && b.backfill === 0 && b.oldest === 0;
      },
      60_000,
      'an empty backlog before Feishu goes down',
    );

    fx.fake.faults.set({ down: true });
    try {
      await insertRequests([101, 102, 103]);
      const during = await waitFor(
        async () => {
          const b = backlog(await scrapeMetrics(mainUrl));
          return b.live === 3 && b.oldest > 0 ? b : null;
        },
        20_000,
        'a live backlog of 3 with an oldest pending age',
      );
      expect(during.backfill).toBe(0);
      expect(fx.fake.instance('oa-req-101')).toBeUndefined();
    } finally {
      fx.fake.faults.set({ down: false });
    }

    await waitFor(
      async () => {
        const b = backlog(await scrapeMetrics(mainUrl));
        return b.live === 0 && b.backfill === 0 && b.oldest === 0;
      },
      60_000,
      'the backlog back to zero after Feishu recovered',
    );
    for (const id of [101, 102, 103]) expect(fx.fake.instance(`oa-req-${id}`)?.status).toBe('PENDING');
  }, 120_000);

  it('exits before creating its slot while Feishu refuses the credentials', async () => {
    const slot = `${fx.settings.slotName}_badcred`;
    const refused = await startConnector({
      APPROVAL_CDC_FEISHU_APP_SECRET: 'not-the-secret',
      // Its own slot, publication and state schema: the main connector keeps running on the others.
      APPROVAL_CDC_SLOT: slot,
      APPROVAL_CDC_PUBLICATION: 'approval_cdc_badcred',
      APPROVAL_CDC_STATE_SCHEMA: 'approval_cdc_badcred',
    });
    const [code] = (await once(refused.child, 'exit')) as [number | null];
    expect(code).toBe(1);
    // It used to stream from a new slot and answer /readyz 503: a slot retaining WAL for a
    // connector that could never push.
    const slots = await fx.sql.query('select 1 from pg_replication_slots where slot_name = $1', [slot]);
    expect(slots.rowCount).toBe(0);
    expect(fx.fake.counters.pushesAccepted).toBeGreaterThan(0);
  }, 60_000);
});
