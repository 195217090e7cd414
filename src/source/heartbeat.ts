// Writes a small transactional logical message into the source WAL at an interval. It travels the
// stream like any transaction, so the checkpoint and the "seconds since the newest applied commit"
// keep moving on an idle database and WAL is never pinned by a quiet slot. Invariant: a failing
// heartbeat never stops the connector; it is reported once and retried at the next tick.
import pg from 'pg';
import { describeError } from '../errors.js';
import type { Logger } from '../core/logger.js';

export const HEARTBEAT_PREFIX = 'approval-cdc-heartbeat';

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private client: pg.Client | null = null;
  private failing = false;
  private busy = false;

  constructor(
    private readonly sourceUrl: string,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }

  async beat(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      if (!this.client) {
        const client = new pg.Client({
          connectionString: this.sourceUrl,
          application_name: 'approval-cdc-heartbeat',
        });
        client.on('error', () => {
          this.client = null;
        });
        await client.connect();
        this.client = client;
      }
      await this.client.query('select pg_logical_emit_message(true, $1, now()::text)', [HEARTBEAT_PREFIX]);
      if (this.failing) this.logger.info('heartbeat recovered');
      this.failing = false;
    } catch (error) {
      if (!this.failing) {
        this.logger.warn(
          { err: error },
          `heartbeat failed (grant EXECUTE on pg_logical_emit_message, or set heartbeat interval 0): ${describeError(error)}`,
        );
      }
      this.failing = true;
      await this.client?.end().catch(() => undefined);
      this.client = null;
    } finally {
      this.busy = false;
    }
  }
}
