// Fault (focused reproduction): the replication stream's idle fast-forward on keepalives, with a large
// transaction in the WAL. Postgres decodes a transaction only at its commit; while its reorder buffer
// replays a big one, the walsender can already send keepalives whose WAL end lies past that commit,
// before the transaction's BEGIN reaches us. The stream then sees "nothing received is unapplied" and
// stores + confirms that WAL end, so a crash at that moment skips the whole transaction on restart.
// This drives ReplicationStream directly with a recording sink and checks that no idle position at or
// past the transaction's commit is recorded before the transaction itself was applied.
// (Idle positions inside the transaction, before its commit record, are safe: Postgres decodes a
// transaction whose commit record starts at or after the confirmed position.)
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { formatLsn, parseLsn } from '../../src/core/lsn.js';
import { ReplicationStream } from '../../src/source/replication-stream.js';
import { startFaultFixture } from './support/fault-fixture.js';
import { faultLine, seconds, sleep } from './support/fault-line.js';
import { waitFor } from '../support/connector-fixture.js';

const ROWS = 200_000;

describe('fault: keepalive fast-forward while a large transaction is being decoded', () => {
  it('never records an idle position past a commit whose changes were not applied', async () => {
    const started = Date.now();
    const fx = await startFaultFixture();
    try {
      await fx.sql.query(`create publication p_keepalive for table oa.steps`);
      const slot = await fx.sql.query<{ lsn: string }>(
        `select lsn::text from pg_create_logical_replication_slot('s_keepalive', 'pgoutput')`,
      );
      const events: ({ kind: 'idle'; lsn: bigint } | { kind: 'apply'; n: number; end: bigint | null })[] = [];
      let appliedRows = 0;
      const stream = new ReplicationStream({
        sourceUrl: fx.directSourceUrl,
        slot: 's_keepalive',
        publication: 'p_keepalive',
        tables: new Set(['oa.steps']),
        sink: {
          applyBatch: async (b) => {
            appliedRows += b.changes.length;
            events.push({ kind: 'apply', n: b.changes.length, end: b.endLsn });
            await sleep(20); // a state database write takes a while
            return {};
          },
          advanceIdle: async (lsn) => {
            events.push({ kind: 'idle', lsn });
          },
        },
        checkpoint: parseLsn(slot.rows[0]?.lsn ?? '0/0'),
        batchMaxChanges: 2000,
        batchMaxWaitMs: 10,
        statusIntervalMs: 300,
        silenceTimeoutMs: 30_000,
        truncate: 'ignore',
        logger: createLogger('silent'),
      });
      const run = stream.run();
      await sleep(1500);
      await fx.sql
        .query(`insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at)
        select 10000000 + g, 5000000 + g / 100, g % 100, 'n', 1, 1, '2026-01-01 08:00:00', '2026-01-01 08:00:00'
        from generate_series(0, ${ROWS - 1}) g`);
      const afterCommit = parseLsn(
        (await fx.sql.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')).rows[0]
          ?.lsn ?? '0/0',
      );
      await waitFor(
        () => appliedRows >= ROWS,
        120_000,
        `the big transaction to be applied (${appliedRows} rows so far)`,
      );
      await sleep(500);
      await stream.stop();
      await run.catch(() => undefined);

      // The commit end of the big transaction is the end LSN of the first batch with one, after its
      // first change was applied (only this transaction touches the published table).
      const firstApplyIndex = events.findIndex((e) => e.kind === 'apply' && e.n > 0);
      let closingIndex = events.findIndex(
        (e, i) => i >= firstApplyIndex && e.kind === 'apply' && e.end !== null,
      );
      if (closingIndex < 0) closingIndex = events.length;
      const closing = events[closingIndex];
      const commitEnd = closing?.kind === 'apply' && closing.end !== null ? closing.end : afterCommit;
      const premature = events.slice(0, closingIndex).filter((e) => e.kind === 'idle' && e.lsn >= commitEnd);
      faultLine(
        'keepalive-ack-big-transaction',
        `one ${ROWS}-row transaction decoded through ReplicationStream with a recording sink (no connector around it)`,
        'no idle (keepalive) position at/after the commit is stored before the transaction is applied',
        {
          rows: appliedRows,
          commitEnd: formatLsn(commitEnd),
          idleAdvancesBeforeFirstChange: events.slice(0, firstApplyIndex).filter((e) => e.kind === 'idle')
            .length,
          prematureIdlePastCommit:
            premature.map((e) => formatLsn((e as { lsn: bigint }).lsn)).join(' ') || 'none',
          duration: seconds(started),
        },
      );
      expect(premature).toEqual([]);
    } finally {
      await fx.close();
    }
  });
});
