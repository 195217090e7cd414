// One row the replica cannot index or store must not stop the stream (issue 14, case 1): keys of any
// legal length work, a change the state database refuses is parked with its reason while later
// changes flow, and a stream failing again and again at one position says so.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { gatherStatus } from '../../src/ops/status-report.js';
import { seedUsers } from '../support/legacy-workload.js';
import {
  LEGACY_SCHEMA,
  startConnectorFixture,
  waitFor,
  type ConnectorFixture,
} from '../support/connector-fixture.js';

const request = (id: number, title = `R${id}`) =>
  `insert into oa.requests (req_id, form_type, title, applicant_no, status_code, submitted_at, updated_at) values (${id}, 1, '${title}', 1, 1, '2026-11-20 09:00:00', '2026-11-20 09:00:00')`;
const step = (id: number, req: string) =>
  `insert into oa.steps (step_id, req_id, seq, node_name, approver_no, state_code, created_at, updated_at) values (${id}, '${req}', 1, 'N', 2, 0, '2026-11-20 09:00:00', '2026-11-20 09:00:00')`;

// The task parent is a text column without an index at the source, as in the report: a value of
// any length is legal there.
const TEXT_PARENT_SCHEMA = `${LEGACY_SCHEMA}
drop index oa.steps_req;
alter table oa.steps alter column req_id type text;`;

/** 6,400 characters that do not compress (a repeated character would fit a btree entry compressed). */
const longKey = () => randomBytes(4800).toString('base64');

describe('replica failure domains', () => {
  let fx: ConnectorFixture;
  beforeAll(async () => {
    fx = await startConnectorFixture({ schemaSql: TEXT_PARENT_SCHEMA });
    await seedUsers(fx.sql);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('keeps streaming past a row whose task parent is 6,400 characters', async () => {
    const parent = longKey();
    expect(parent).toHaveLength(6400);
    await fx.sql.query(`${request(1)}; ${step(10, '1')}`);
    await waitFor(() => fx.fake.instance('oa-req-1'), 20_000, 'instance 1 in Feishu');
    await fx.sql.query(step(11, parent));
    await fx.sql.query(`${request(2)}; ${step(20, '2')}`);
    const second = await waitFor(() => fx.fake.instance('oa-req-2'), 20_000, 'instance 2 in Feishu');
    expect(second.task_list?.map((t) => t.task_id)).toEqual(['oa-step-20']);
    // The long-keyed row is in the replica, found by its key and by the lookup of its parent.
    const { rows } = await fx.state.query(
      `select count(*)::int as n from "${fx.settings.stateSchema}".row_image where tbl = 'oa.steps' and data ->> 'req_id' = $1`,
      [parent],
    );
    expect(rows[0].n).toBe(1);
    await fx.sql.query(
      `update oa.steps set node_name = 'M', updated_at = '2026-11-20 10:00:00' where step_id = 11`,
    );
    await fx.sql.query(`update oa.requests set title = 'R1 again' where req_id = 1`);
    await waitFor(
      () => JSON.stringify(fx.fake.instance('oa-req-1') ?? {}).includes('R1 again'),
      20_000,
      'instance 1 updated',
    );
    const stored = await fx.state.query(
      `select data ->> 'node_name' as node from "${fx.settings.stateSchema}".row_image where tbl = 'oa.steps' and data ->> 'req_id' = $1`,
      [parent],
    );
    expect(stored.rows[0].node).toBe('M');
  });

  it('parks a change the replica cannot store, with its reason, while the next instance flows', async () => {
    const schema = fx.settings.stateSchema;
    // Any error tied to the values of one row: here the state database refuses one title.
    await fx.state.query(
      `alter table "${schema}".row_image add constraint refuses_poison check (data ->> 'title' is distinct from 'poison')`,
    );
    try {
      await fx.sql.query(`${request(3, 'poison')}; ${step(30, '3')}`);
      await fx.sql.query(`${request(4)}; ${step(40, '4')}`);
      await waitFor(() => fx.fake.instance('oa-req-4'), 20_000, 'instance 4 in Feishu');
      const { rows: parked } = await fx.state.query(
        `select parked_reason, last_error_code from "${schema}".instance where external_id = 'oa-req-3' and parked_at is not null`,
      );
      expect(parked).toHaveLength(1);
      expect(parked[0].parked_reason).toMatch(
        /insert\/update of oa\.requests at [0-9A-F]+\/[0-9A-F]+ \(SQLSTATE 23514\).*refuses_poison/,
      );
      const { rows: changes } = await fx.state.query(
        `select tbl, pk, kind, sqlstate, instances from "${schema}".parked_change where slot = $1`,
        [fx.settings.slotName],
      );
      expect(changes).toEqual([
        {
          tbl: 'oa.requests',
          pk: '["3"]',
          kind: 'upsert',
          sqlstate: '23514',
          instances: ['["oa-request","3"]'],
        },
      ]);
      // The step of the same transaction was stored, and did not un-park the instance.
      expect(fx.fake.instance('oa-req-3')).toBeUndefined();
      const status = await gatherStatus({
        state: { db: (fx.pipeline as any).state.db, schema },
        source: { error: 'not asked' },
        slot: fx.settings.slotName,
      });
      expect(status.parkedChanges.count).toBe(1);
      expect(status.parked.recent.map((p) => p.externalId)).toContain('oa-req-3');
      expect(await fx.pipeline?.metrics.registry.metrics()).toMatch(/approval_cdc_changes_parked_total 1/);
    } finally {
      await fx.state.query(`alter table "${schema}".row_image drop constraint refuses_poison`);
    }
  });

  it('reports a stream failing again and again at one position in status, a metric and the log', async () => {
    const schema = fx.settings.stateSchema;
    const log = new LogLines();
    await fx.stopPipeline();
    await fx.startPipeline({ logger: createLogger('warn', log) });
    // Not an error about the row's values (a trigger's own exception): the batch fails and is replayed.
    await fx.state.query(`create function "${schema}".jam() returns trigger language plpgsql as $$
      begin if new.data ->> 'title' = 'jam' then raise exception 'jammed by the test'; end if; return new; end $$;
      create trigger jam before insert or update on "${schema}".row_image for each row execute function "${schema}".jam()`);
    try {
      await fx.sql.query(request(5, 'jam'));
      const status = await waitFor(
        async () =>
          (
            await gatherStatus({
              state: { db: (fx.pipeline as any).state.db, schema },
              source: { error: 'not asked' },
              slot: fx.settings.slotName,
            })
          ).streamFault,
        30_000,
        'the repeated failure in status',
      );
      expect(status.tables).toEqual(['oa.requests']);
      expect(status.error).toMatch(/jammed by the test/);
      expect(status.failures).toBeGreaterThanOrEqual(3);
      expect(await fx.pipeline?.metrics.registry.metrics()).toMatch(
        /approval_cdc_stream_repeated_failures [3-9]/,
      );
      expect(log.text()).toMatch(
        new RegExp(
          `failed \\d+ times in a row at ${status.position} applying changes of oa.requests: .*jammed by the test`,
        ),
      );
    } finally {
      await fx.state.query(`drop trigger jam on "${schema}".row_image; drop function "${schema}".jam()`);
    }
    // Once the cause is gone the stream moves on, and the report goes.
    await waitFor(() => fx.fake.instance('oa-req-5'), 60_000, 'instance 5 in Feishu');
    const after = await gatherStatus({
      state: { db: (fx.pipeline as any).state.db, schema },
      source: { error: 'not asked' },
      slot: fx.settings.slotName,
    });
    expect(after.streamFault).toBeNull();
    expect(await fx.pipeline?.metrics.registry.metrics()).toMatch(/approval_cdc_stream_repeated_failures 0/);
  });
});

/** A log destination that keeps what was written. */
class LogLines extends Writable {
  private readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.lines.push(chunk.toString());
    done();
  }
  text(): string {
    return this.lines.join('');
  }
}
