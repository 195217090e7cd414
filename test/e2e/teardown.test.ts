import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { teardown, type TeardownIo } from '../../src/cli/teardown.js';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { LeaderLock } from '../../src/replica/leader-lock.js';
import { migrateStateDb, openStateDb } from '../../src/replica/state-db.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

interface Recorded extends TeardownIo {
  output: string;
  errors: string;
  questions: string[];
}

function recordingIo(interactive: boolean, answer = ''): Recorded {
  const io: Recorded = {
    interactive,
    output: '',
    errors: '',
    questions: [],
    ask: async (question) => {
      io.questions.push(question);
      return answer;
    },
    out: (text) => {
      io.output += text;
    },
    err: (text) => {
      io.errors += text;
    },
  };
  return io;
}

describe('teardown', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let settings: Settings;

  const present = async () => {
    const q = async (text: string, value: string) => ((await client.query(text, [value])).rowCount ?? 0) > 0;
    return {
      slot: await q('select 1 from pg_replication_slots where slot_name = $1', settings.slotName),
      publication: await q('select 1 from pg_publication where pubname = $1', settings.publicationName),
      stateSchema: await q('select 1 from pg_namespace where nspname = $1', settings.stateSchema),
    };
  };

  beforeAll(async () => {
    db = await createTestDatabase('teardown');
    settings = loadSettings({
      overrides: {
        sourceUrl: db.url,
        slotName: `teardown_${db.name}`,
        publicationName: 'teardown_pub',
        stateSchema: 'teardown_state',
      },
    });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('create table requests (id bigint primary key, title text)');
  });

  beforeEach(async () => {
    if (
      (await client.query('select 1 from pg_replication_slots where slot_name = $1', [settings.slotName]))
        .rowCount === 0
    ) {
      await client.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [settings.slotName]);
    }
    await client.query(`drop publication if exists ${settings.publicationName}`);
    await client.query(`create publication ${settings.publicationName} for table requests`);
    const state = openStateDb(settings.stateUrl, settings.stateSchema);
    try {
      await migrateStateDb(state);
    } finally {
      await state.close();
    }
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('without --yes and without a terminal exits 2, says why, and drops nothing', async () => {
    const io = recordingIo(false);
    expect(await teardown(settings, {}, io)).toBe(2);
    expect(io.errors).toContain('--yes');
    expect(io.errors).toContain('not a terminal');
    expect(io.questions).toEqual([]);
    expect(await present()).toEqual({ slot: true, publication: true, stateSchema: true });
  });

  it('with --yes drops the slot and the publication and keeps the state schema', async () => {
    const io = recordingIo(false);
    expect(await teardown(settings, { yes: true }, io)).toBe(0);
    expect(io.output).toContain(`dropped replication slot ${settings.slotName}`);
    expect(await present()).toEqual({ slot: false, publication: false, stateSchema: true });
  });

  it('with --yes --drop-state drops the state schema too', async () => {
    expect(await teardown(settings, { yes: true, dropState: true }, recordingIo(false))).toBe(0);
    expect(await present()).toEqual({ slot: false, publication: false, stateSchema: false });
  });

  it('on a terminal asks first, explains the full disk, and drops nothing when the answer is no', async () => {
    const io = recordingIo(true, 'n');
    expect(await teardown(settings, {}, io)).toBe(1);
    expect(io.questions).toEqual(['Drop them? [y/N] ']);
    expect(io.output).toContain('disk');
    expect(await present()).toEqual({ slot: true, publication: true, stateSchema: true });
  });

  it('on a terminal drops after a yes', async () => {
    expect(await teardown(settings, {}, recordingIo(true, 'y'))).toBe(0);
    expect(await present()).toMatchObject({ slot: false, publication: false });
  });

  it('refuses while a connector holds the active lock for the slot', async () => {
    const lock = new LeaderLock(settings.stateUrl, settings.slotName);
    await lock.acquire({ wait: false, onLost: () => undefined });
    try {
      const io = recordingIo(false);
      expect(await teardown(settings, { yes: true, dropState: true }, io)).toBe(1);
      expect(io.errors).toContain('holds the active lock');
      expect(await present()).toEqual({ slot: true, publication: true, stateSchema: true });
    } finally {
      await lock.release();
    }
  });

  describe('with the state database unreachable', () => {
    // Nothing listens on port 1: the lock that proves no connector runs cannot be taken.
    const unreachable = () => ({ ...settings, stateUrl: 'postgres://cdc@127.0.0.1:1/state' });

    it('refuses to drop the slot with --yes alone, says why and how to force it', async () => {
      const io = recordingIo(false);
      expect(await teardown(unreachable(), { yes: true }, io)).toBe(1);
      expect(io.errors).toContain('cannot reach the state database');
      expect(io.errors).toContain('Nothing was dropped');
      expect(io.errors).toContain('--force');
      expect(await present()).toEqual({ slot: true, publication: true, stateSchema: true });
    });

    it('drops the slot and the publication with --yes --force, with a warning', async () => {
      const io = recordingIo(false);
      expect(await teardown(unreachable(), { yes: true, force: true }, io)).toBe(0);
      expect(io.errors).toContain('warning (--force)');
      expect(await present()).toMatchObject({ slot: false, publication: false });
    });
  });
});
