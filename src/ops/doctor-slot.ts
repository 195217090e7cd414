// The doctor's check of the replication slot: it exists (or setup will make it), uses pgoutput, has
// not lost its WAL, belongs to this state database's checkpoint, and how much WAL it retains.
// Invariant: read-only (no slot is created or dropped); the SQL that fixes a problem is in the finding.
import type pg from 'pg';
import type { Checkpoint } from '../replica/checkpoint-store.js';
import { readSlot } from '../source/slot-admin.js';
import { fail, pass, type Finding } from './doctor-finding.js';

export async function slotChecks(
  c: pg.ClientBase,
  name: string,
  checkpoint: Checkpoint | null,
): Promise<Finding[]> {
  const slot = await readSlot(c, name);
  const lit = `'${name}'`;
  if (!slot) {
    const elsewhere = await c.query<{ database: string }>(
      'select database from pg_replication_slots where slot_name = $1',
      [name],
    );
    const other = elsewhere.rows[0]?.database;
    if (other) {
      return [
        fail(
          'slot',
          'error',
          `slot ${name} belongs to database ${other}, not this one`,
          `set APPROVAL_CDC_SLOT to another name, or (connected to ${other}) SELECT pg_drop_replication_slot(${lit});`,
        ),
      ];
    }
    if (checkpoint?.phase === 'streaming') {
      return [
        fail(
          'slot',
          'error',
          `slot ${name} is gone though the replica streamed from it: changes since then cannot be streamed`,
          'approval-cdc setup --resnapshot',
        ),
      ];
    }
    return [
      fail(
        'slot',
        'info',
        `slot ${name} does not exist yet; setup (or the first run) creates it with a snapshot`,
        'approval-cdc setup',
      ),
    ];
  }
  const findings: Finding[] = [];
  if (slot.plugin !== 'pgoutput') {
    findings.push(
      fail(
        'slot',
        'error',
        `slot ${name} uses plugin ${slot.plugin ?? '(physical)'}, not pgoutput`,
        `SELECT pg_drop_replication_slot(${lit});  -- then approval-cdc setup --resnapshot, or set APPROVAL_CDC_SLOT to another name`,
      ),
    );
  } else if (slot.walStatus === 'lost') {
    findings.push(
      fail(
        'slot',
        'error',
        `slot ${name} was invalidated (wal_status = lost): the WAL it needed is gone`,
        'approval-cdc setup --resnapshot',
      ),
    );
  } else if (!checkpoint) {
    findings.push(
      fail(
        'slot',
        'error',
        `slot ${name} exists but the state database has no checkpoint for it (another connector's slot, or a different state database?)`,
        `approval-cdc setup --resnapshot  -- or SELECT pg_drop_replication_slot(${lit}); if it is not ours`,
      ),
    );
  } else if (slot.walStatus === 'unreserved') {
    findings.push(
      fail(
        'slot',
        'warn',
        `slot ${name} is past max_slot_wal_keep_size (wal_status = unreserved): it is lost at the next checkpoint unless the connector catches up`,
        'start the connector (approval-cdc run) now, or raise max_slot_wal_keep_size',
      ),
    );
  } else {
    findings.push(
      pass(
        'slot',
        `slot ${name}: pgoutput, wal_status ${slot.walStatus ?? '-'}, ${slot.active ? `active (pid ${slot.activePid})` : 'inactive'}`,
      ),
    );
  }
  const safe = slot.safeWalSize === null ? 'unlimited' : `${slot.safeWalSize} bytes`;
  findings.push(
    pass(
      'slot-retained-wal',
      `slot ${name} retains ${slot.retainedBytes ?? 0n} bytes of WAL, lags ${slot.lagBytes ?? 0n} bytes; safe_wal_size ${safe}`,
    ),
  );
  return findings;
}
