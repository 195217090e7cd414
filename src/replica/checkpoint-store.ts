// Reads and writes the checkpoint row of a slot: the LSN up to which the replica holds the source,
// the phase (snapshot copy or streaming) and the copy's progress. The batch writer moves `lsn` in
// its own transaction (replica-writer.ts); everything else about the row happens here.
import { sql, type Kysely } from 'kysely';
import type { StateDb, StateRow } from './state-schema.js';
import type { CopyProgress } from '../core/copy-progress.js';
import type { Lsn } from '../core/lsn.js';

export interface Checkpoint {
  slot: string;
  lsn: Lsn;
  /** creating: a slot is being created, its snapshot not recorded yet (a slot found then is ours). */
  phase: 'creating' | 'snapshot' | 'streaming';
  consistentLsn: Lsn | null;
  /**
   * What the snapshot copy's images are placed just below: the WAL position read before the slot
   * was created (null for a copy begun by an older version: the consistent point is used).
   */
  copyLsn: Lsn | null;
  progress: CopyProgress;
  lastCommitAt: Date | null;
  updatedAt: Date;
}

export class CheckpointStore {
  constructor(
    private readonly db: Kysely<StateDb>,
    private readonly schema: string,
  ) {}

  private get t() {
    return sql.id(this.schema, 'checkpoint');
  }

  async read(slot: string): Promise<Checkpoint | null> {
    const { rows } = await sql<StateRow<'checkpoint'>>`select * from ${this.t} where slot = ${slot}`.execute(
      this.db,
    );
    const r = rows[0];
    if (!r) return null;
    return {
      slot: r.slot,
      lsn: BigInt(r.lsn),
      phase: r.phase,
      consistentLsn: r.consistent_lsn === null ? null : BigInt(r.consistent_lsn),
      copyLsn: r.copy_lsn === null ? null : BigInt(r.copy_lsn),
      progress: r.snapshot_progress ?? {},
      lastCommitAt: r.last_commit_at ? new Date(r.last_commit_at) : null,
      updatedAt: new Date(r.updated_at),
    };
  }

  /**
   * Records that this connector is about to create its slot, before it does: a slot found in this
   * phase was left by a start killed before its snapshot was recorded. A first start's row has no
   * consistent point; a re-snapshot's keeps the old one (it still has rows to sweep).
   */
  async beginCreating(slot: string): Promise<void> {
    await sql`insert into ${this.t} (slot, lsn, phase) values (${slot}, 0, 'creating')
      on conflict (slot) do update set phase = 'creating', updated_at = now()`.execute(this.db);
  }

  /**
   * Starts a (re)snapshot: the checkpoint is the new slot's consistent point, the copy starts over,
   * its images placed below `copyLsn` (see Checkpoint.copyLsn).
   */
  async beginSnapshot(slot: string, consistentLsn: Lsn, copyLsn: Lsn = consistentLsn): Promise<void> {
    await sql`insert into ${this.t} (slot, lsn, phase, consistent_lsn, copy_lsn, snapshot_progress)
      values (${slot}, ${consistentLsn.toString()}::bigint, 'snapshot', ${consistentLsn.toString()}::bigint, ${copyLsn.toString()}::bigint, '{}'::jsonb)
      on conflict (slot) do update set lsn = excluded.lsn, phase = 'snapshot', consistent_lsn = excluded.consistent_lsn,
        copy_lsn = excluded.copy_lsn, snapshot_progress = '{}'::jsonb, updated_at = now()`.execute(this.db);
  }

  async saveProgress(slot: string, progress: CopyProgress): Promise<void> {
    await sql`update ${this.t} set snapshot_progress = ${JSON.stringify(progress)}::jsonb, updated_at = now() where slot = ${slot}`.execute(
      this.db,
    );
  }

  /**
   * Streaming starts. `horizon` raises the image horizon (see replica-writer.ts) to a WAL position at
   * or past every image the copy wrote: a copy resumed under fresh snapshots saw rows inserted after
   * the consistent point.
   */
  async finishSnapshot(slot: string, horizon?: Lsn): Promise<void> {
    const h = horizon === undefined ? null : horizon.toString();
    await sql`update ${this.t} set phase = 'streaming',
      image_lsn = case when ${h}::bigint is null then image_lsn else greatest(coalesce(image_lsn, 0), ${h}::bigint) end,
      updated_at = now() where slot = ${slot}`.execute(this.db);
  }

  /** Records an idle-advanced position (keepalive or heartbeat) without a batch. */
  async advance(slot: string, lsn: Lsn): Promise<void> {
    await sql`update ${this.t} set lsn = greatest(lsn, ${lsn.toString()}::bigint), updated_at = now() where slot = ${slot}`.execute(
      this.db,
    );
  }

  async remove(slot: string): Promise<void> {
    await sql`delete from ${this.t} where slot = ${slot}`.execute(this.db);
  }
}
