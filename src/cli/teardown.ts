// `approval-cdc teardown [--yes] [--drop-state]`: retires the connector from a legacy server by
// dropping its replication slot and publication, and with --drop-state its state schema.
// Invariants: nothing is dropped without a confirmation (a y/N answer on a terminal, or --yes);
// nothing is dropped while a connector holds the active lock, and teardown holds that lock itself
// while it drops, so a standby cannot take over halfway; when the state database cannot be reached
// to take that lock, nothing is dropped unless --force. Exit 0 done, 1 failed or declined, 2 when
// confirmation was needed but there is no terminal to ask on.
import { createInterface } from 'node:readline/promises';
import pg from 'pg';
import type { Settings } from '../config/settings.js';
import { describeError, isCdcError } from '../errors.js';
import { redactUrls } from '../core/logger.js';
import { LeaderLock } from '../replica/leader-lock.js';
import { locateStateStore, openStateStore, type StateStore } from '../replica/state-store.js';
import { dropPublication, dropSlot, readSlot } from '../source/slot-admin.js';
import { commandContext, type GlobalFlags } from './context.js';
import { humanBytes } from './status.js';

export interface TeardownOptions {
  yes?: boolean;
  dropState?: boolean;
  /** Drop the slot even though the state database cannot be reached to check that no connector runs. */
  force?: boolean;
}

export interface TeardownIo {
  /** Whether a person can answer a question (stdin and stdout are terminals). */
  interactive: boolean;
  ask(question: string): Promise<string>;
  out(text: string): void;
  err(text: string): void;
}

export async function teardownCommand(flags: GlobalFlags & TeardownOptions): Promise<number> {
  const { settings, logger } = commandContext(flags);
  try {
    return await teardown(settings, flags, {
      interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
      ask: async (question) => {
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        try {
          return await rl.question(question);
        } finally {
          rl.close();
        }
      },
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
    });
  } finally {
    logger.flush();
  }
}

export async function teardown(s: Settings, o: TeardownOptions, io: TeardownIo): Promise<number> {
  if (!o.yes && !io.interactive) {
    io.err(
      `teardown drops replication slot ${s.slotName} and publication ${s.publicationName}${o.dropState ? ` and state schema ${s.stateSchema}` : ''}; ` +
        'it asks for confirmation first, and stdin is not a terminal to ask on. Pass --yes to confirm. Nothing was dropped.\n',
    );
    return 2;
  }
  // No embedded store yet: no connector ever ran here, there is nothing to lock or drop in it.
  let store: StateStore | null = null;
  let lock: LeaderLock | null = null;
  let locked = false;
  try {
    const location = await locateStateStore(s);
    if (location.kind !== 'embedded' || location.initialised) {
      store = await openStateStore(s, { create: false });
      lock = new LeaderLock(store.url, s.slotName);
      await lock.acquire({ wait: false, onLost: () => undefined });
      locked = true;
    }
  } catch (error) {
    if (isCdcError(error, 'LOCK_HELD')) {
      io.err(
        `a connector is running for slot ${s.slotName} (it holds the active lock): stop every connector process, standbys included, then run teardown again. Nothing was dropped.\n`,
      );
      await store?.close();
      return 1;
    }
    if (o.dropState) {
      io.err(`cannot reach the state database: ${redactUrls(describeError(error))}. Nothing was dropped.\n`);
      await store?.close();
      return 1;
    }
    // Without the lock nothing proves no connector runs (a standby may be waiting to take over):
    // dropping its slot under it loses every change since. The slot is what hurts the legacy server,
    // so a state database that is gone for good must not keep it alive either: --force says so.
    const why = redactUrls(describeError(error));
    if (!o.force) {
      io.err(
        `cannot reach the state database to check that no connector runs for slot ${s.slotName}: ${why}. ` +
          'A running connector (or a standby) would lose every change since its checkpoint. Nothing was dropped. ' +
          'Fix the state database and run teardown again, or, if it is gone for good and no connector runs, pass --force.\n',
      );
      await store?.close();
      return 1;
    }
    io.err(`warning (--force): cannot reach the state database to check that no connector runs: ${why}\n`);
  }
  const source = new pg.Client({ connectionString: s.sourceUrl, application_name: 'approval-cdc-teardown' });
  source.on('error', () => undefined);
  try {
    await source.connect();
    const slot = await readSlot(source, s.slotName);
    const slotLine = slot
      ? `replication slot ${s.slotName} (${slot.active ? `in use by pid ${slot.activePid}` : 'inactive'}, retaining ${humanBytes(Number(slot.retainedBytes ?? 0n))} of WAL)`
      : `replication slot ${s.slotName} (does not exist)`;
    const plan = [
      'approval-cdc teardown drops, on the source database:',
      `  ${slotLine}`,
      `  publication ${s.publicationName}`,
      ...(o.dropState
        ? [
            'and in the state database:',
            `  schema ${s.stateSchema} (replica rows, instance sync state, checkpoint)`,
          ]
        : []),
      'An abandoned slot makes the legacy server keep every WAL segment written after its position, until its disk',
      'fills up; drop it whenever the connector is retired.',
      ...(o.dropState
        ? []
        : [
            'The state schema stays: a later `run` refuses to start until `setup --resnapshot` copies the tables again.',
          ]),
    ];
    io.out(`${plan.join('\n')}\n`);
    if (!o.yes) {
      const answer = (await io.ask('Drop them? [y/N] ')).trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes') {
        io.out('nothing dropped\n');
        return 1;
      }
    }
    const dropped = await dropSlot(source, s.slotName);
    io.out(
      dropped ? `dropped replication slot ${s.slotName}\n` : `replication slot ${s.slotName} did not exist\n`,
    );
    await dropPublication(source, s.publicationName);
    io.out(`dropped publication ${s.publicationName} (if it existed)\n`);
    if (o.dropState && store) {
      const state = new pg.Client({
        connectionString: store.url,
        application_name: 'approval-cdc-teardown',
      });
      state.on('error', () => undefined);
      await state.connect();
      try {
        await state.query(`drop schema if exists "${s.stateSchema}" cascade`);
      } finally {
        await state.end().catch(() => undefined);
      }
      io.out(`dropped state schema ${s.stateSchema}\n`);
    }
    return 0;
  } catch (error) {
    io.err(`teardown failed: ${redactUrls(describeError(error))}\n`);
    return 1;
  } finally {
    await source.end().catch(() => undefined);
    if (locked) await lock?.release();
    await store?.close();
  }
}
