// A stop is finished when `done` settles: `run` exits the process right after it, so anything still
// running then (a push in flight, the lock, connections) would be cut off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectorFixture, waitFor, type ConnectorFixture } from '../support/connector-fixture.js';

describe('stopping the pipeline', () => {
  let fx: ConnectorFixture;

  beforeAll(async () => {
    // A push may take up to the request timeout; the stop waits that long for it.
    fx = await startConnectorFixture({ noPipeline: true, settings: { requestTimeoutMs: 30_000 } });
    await fx.sql.query(`insert into oa.users (user_no, login, display_name, feishu_uid, dept_code)
      values (1, 'alice', 'Alice', 'ou_alice', 'D1')`);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('settles done only after the push in flight finished, not when the stream ended', async () => {
    const events: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let pushing = false;
    const pipeline = await fx.startPipeline({
      push: async () => {
        pushing = true;
        await released;
        events.push('push finished');
      },
    });
    void pipeline.done.then(() => events.push('done'));
    await fx.sql
      .query(`insert into oa.requests (req_id, form_type, title, applicant_no, status_code, reason, submitted_at, updated_at)
      values (7, 1, 'Leave', 1, 1, 'r', '2026-11-20 09:00:00', '2026-11-20 09:00:00')`);
    await waitFor(() => pushing, 20_000, 'a push in flight');

    const stopped = pipeline.stop();
    // The stream stops first; before the fix `done` resolved right then, with the push still open.
    await waitFor(() => !pipeline.streaming, 10_000, 'the stream to end');
    await new Promise((r) => setTimeout(r, 300));
    expect(events).toEqual([]);

    release();
    await stopped;
    await pipeline.done;
    expect(events).toEqual(['push finished', 'done']);
    fx.pipeline = null;
  });
});
