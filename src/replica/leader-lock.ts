// Makes one connector active per slot: a session advisory lock on the state database. A standby
// waits for the lock and takes over within about a second of the active one's death (its session
// ends, Postgres releases the lock). Invariant: a process that loses the lock's connection stops at
// once (onLost), so two connectors never stream or push the same slot together.
import pg from 'pg';
import { CdcError } from '../errors.js';

export class LeaderLock {
  private client: pg.Client | null = null;
  private released = false;

  constructor(
    private readonly stateUrl: string,
    private readonly name: string,
  ) {}

  /** Resolves once the lock is held; with wait=false throws LOCK_HELD when another process holds it. */
  async acquire(options: {
    wait: boolean;
    pollMs?: number;
    onWaiting?: () => void;
    onLost: (e: unknown) => void;
    signal?: AbortSignal;
  }): Promise<void> {
    let announced = false;
    for (;;) {
      if (options.signal?.aborted)
        throw new CdcError('SHUTDOWN', 'stopped while waiting for the active lock');
      const client = new pg.Client({
        connectionString: this.stateUrl,
        application_name: 'approval-cdc-lock',
      });
      client.on('error', () => undefined);
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>(
        'select pg_try_advisory_lock(hashtext($1)) as ok',
        [`approval-cdc:${this.name}`],
      );
      if (rows[0]?.ok) {
        this.client = client;
        client.removeAllListeners('error');
        const lost = (e: unknown) => {
          if (!this.released)
            options.onLost(e ?? new CdcError('LOCK_HELD', 'lost the connection holding the active lock'));
        };
        client.on('error', lost);
        client.on('end', () =>
          lost(new CdcError('LOCK_HELD', 'the connection holding the active lock ended')),
        );
        return;
      }
      await client.end().catch(() => undefined);
      if (!options.wait)
        throw new CdcError('LOCK_HELD', `another connector holds the lock for slot ${this.name}`);
      if (!announced) options.onWaiting?.();
      announced = true;
      await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
    }
  }

  async release(): Promise<void> {
    this.released = true;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }
}
