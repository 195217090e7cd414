// A connector killed with SIGKILL in the middle of applying a decision applies it exactly once after
// restart. The connector runs as a child process (the CLI's `run`); the test stops it at the
// precise point with row locks it holds itself, no hook in the connector: a lock on the OA step makes
// the write-back statement wait (decision in the inbox, legacy transaction open, not committed); a
// lock on the inbox row makes the applier's "applied" mark wait after the legacy commit.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  startConnectorFixture,
  settingsEnv,
  waitFor,
  type ConnectorFixture,
} from '../support/connector-fixture.js';
import {
  dropLoopRole,
  insertPendingRequest,
  loopSettings,
  prepareLoopDatabase,
  writtenBack,
} from '../support/loop-fixture.js';
import { createTestDatabase } from '../support/test-database.js';
import { cliEntry } from '../support/cli-entry.js';

/** The bundled CLI (test/support/cli-entry.ts): the same commands, a third of tsx's start-up CPU. */
const BIN = cliEntry();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('quick approval: a connector killed with SIGKILL while applying a decision', () => {
  let fx: ConnectorFixture;
  let role = '';
  let port = 0;
  let child: ChildProcess | null = null;
  const lockers: pg.Client[] = [];

  beforeAll(async () => {
    const db = await createTestDatabase('loopkill');
    role = `${db.name}_wb`;
    const url = new URL(db.url);
    url.username = role;
    url.password = 'wb';
    port = await freePort();
    fx = await startConnectorFixture({
      database: db,
      noPipeline: true,
      // State in the OA database itself (a supported choice): the test locks inbox rows and watches
      // the connector's sessions on one server and database.
      settings: {
        ...loopSettings({ writebackRole: role, writebackUrl: url.toString() }, port),
        stateUrl: db.url,
      },
      afterClose: () => dropLoopRole(inject('adminUrl'), role),
    });
    await prepareLoopDatabase(db, fx.sql);
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    for (const c of lockers) await c.end().catch(() => undefined);
    await fx?.close();
  });

  const startChild = () => {
    const env = settingsEnv(fx.settings, {
      APPROVAL_CDC_METRICS_ADDRESS: 'off',
      APPROVAL_CDC_MIN_PUSH_INTERVAL_MS: '0',
      APPROVAL_CDC_BATCH_MAX_WAIT_MS: '5',
      APPROVAL_CDC_STANDBY: 'true',
      APPROVAL_CDC_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    });
    child = spawn(process.execPath, [BIN, 'run'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  };
  const kill = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null)
      throw new Error('the connector had already exited');
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  /** An open transaction holding a row lock, as another session of the OA system would. */
  const lockRow = async (statement: string, params: unknown[]) => {
    const c = new pg.Client({ connectionString: fx.db.url });
    await c.connect();
    lockers.push(c);
    await c.query('begin');
    const res = await c.query(statement, params);
    expect(res.rowCount).toBe(1);
    return { release: () => c.query('rollback') };
  };
  const waiting = async (like: string) =>
    Number(
      (
        await fx.sql.query(
          `select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock' and query ilike $1`,
          [like],
        )
      ).rows[0].n,
    );
  const step = async (id: number) =>
    (await fx.sql.query(`select state_code, opinion from oa.steps where step_id = $1`, [id])).rows[0];
  const ledger = (instanceId: string) => writtenBack(fx.sql, instanceId);
  const decisions = async (instanceId: string) =>
    (
      await fx.sql.query(
        `select id::text, state, outcome from ${fx.settings.stateSchema}.decision where instance_id = $1 order by id`,
        [instanceId],
      )
    ).rows as { id: string; state: string; outcome: string | null }[];
  const cardOf = (user: string, title: string) =>
    waitFor(() => fx.fake.userView(user).find((c) => c.title === title), 30_000, `a card "${title}"`);
  /** The killed connector's write-back session is gone (its transaction rolled back). */
  const writeBackGone = () =>
    waitFor(
      async () =>
        Number(
          (await fx.sql.query(`select count(*)::int as n from pg_stat_activity where usename = $1`, [role]))
            .rows[0].n,
        ) === 0,
      30_000,
      'the killed write-back session gone',
    );

  it(
    'killed between inbox and apply (write-back not committed): applies the decision once after restart',
    { timeout: 180_000 },
    async () => {
      startChild();
      // Cards go out for tasks that become pending while streaming (not for the first start's copy).
      await waitFor(
        async () =>
          (
            await fx.sql
              .query(`select phase from ${fx.settings.stateSchema}.checkpoint where slot = $1`, [
                fx.settings.slotName,
              ])
              .catch(() => ({ rows: [] }))
          ).rows[0]?.phase === 'streaming',
        90_000,
        'the first connector streaming',
      );
      await insertPendingRequest(fx.sql, 301, 3001, 2);
      const card = await cardOf('ou_bob', 'Taxi 301');
      const stepLock = await lockRow(`select 1 from oa.steps where step_id = $1 for update`, [3001]);
      expect((await fx.fake.act(card.message_id, { action_type: 'APPROVE', reason: 'ok' })).httpStatus).toBe(
        200,
      );
      await waitFor(
        async () => (await waiting('%oa.steps%')) > 0,
        30_000,
        'the write-back waiting on the step',
      );
      expect((await decisions('oa-req-301')).map((d) => d.state)).toEqual(['received']);

      await kill();
      await stepLock.release();
      await writeBackGone();
      expect((await step(3001))?.state_code).toBe(0);
      expect(await ledger('oa-req-301')).toBe(0);
      expect((await decisions('oa-req-301')).map((d) => d.state)).toEqual(['received']);

      startChild();
      await waitFor(
        async () => (await decisions('oa-req-301'))[0]?.state === 'applied',
        30_000,
        'decision applied after restart',
      );
      expect(await step(3001)).toEqual({ state_code: 1, opinion: 'ok' });
      expect(await ledger('oa-req-301')).toBe(1);
      expect(await decisions('oa-req-301')).toHaveLength(1);
      await kill();
    },
  );

  it(
    'killed after the write-back committed, before the inbox row was marked: does not apply it again',
    { timeout: 180_000 },
    async () => {
      startChild();
      await insertPendingRequest(fx.sql, 302, 3002, 3);
      const card = await cardOf('ou_carol', 'Taxi 302');
      const stepLock = await lockRow(`select 1 from oa.steps where step_id = $1 for update`, [3002]);
      expect(
        (await fx.fake.act(card.message_id, { action_type: 'REJECT', reason: 'no receipt' })).httpStatus,
      ).toBe(200);
      await waitFor(
        async () => (await waiting('%oa.steps%')) > 0,
        30_000,
        'the write-back waiting on the step',
      );
      const [received] = await decisions('oa-req-302');
      expect(received?.state).toBe('received');
      const inboxLock = await lockRow(
        `select 1 from ${fx.settings.stateSchema}.decision where id = $1::bigint for update`,
        [received?.id],
      );
      await stepLock.release();
      // The legacy transaction commits (step rejected, ledger row), then the "applied" mark waits.
      await waitFor(
        async () => (await step(3002))?.state_code === 2,
        30_000,
        'step 3002 rejected in the OA database',
      );
      expect(await ledger('oa-req-302')).toBe(1);
      await waitFor(async () => (await waiting('update%decision%')) > 0, 30_000, 'the applied mark waiting');

      await kill();
      // The mark's statement had already reached the server: it would commit once the lock goes, as if
      // the process had died a moment later. End that orphaned session first, the state a crash just
      // before sending the mark leaves: legacy change committed, inbox row still received.
      await fx.sql.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and query ilike 'update%decision%'`,
      );
      await waitFor(async () => (await waiting('update%decision%')) === 0, 30_000, 'the orphaned mark ended');
      await inboxLock.release();
      expect((await decisions('oa-req-302')).map((d) => d.state)).toEqual(['received']);

      startChild();
      await waitFor(
        async () => (await decisions('oa-req-302'))[0]?.state !== 'received',
        30_000,
        'decision finished after restart',
      );
      const after = await decisions('oa-req-302');
      expect(after.map((d) => d.state)).toEqual(['applied']);
      expect(after[0]?.outcome).toContain('legacy ledger');
      expect(await ledger('oa-req-302')).toBe(1);
      expect(await step(3002)).toEqual({ state_code: 2, opinion: 'no receipt' });
      await kill();
    },
  );
});
