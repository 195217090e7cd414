// Reads and writes the bot_message table: one row per card (a pending episode of a task), its
// message id, and its state: to_send -> sent -> to_close -> closed, or to_send -> dropped when the
// task ended before its card went out, or parked with a reason. Invariants: a card is sent at most
// once per row (the row keeps the message id, and the uuid makes a timed-out send safe to repeat);
// a close is only ever sent for a row that has a message id.
import { sql, type Kysely } from 'kysely';
import { QueueTable } from '../replica/queue-table.js';
import type { CardStatus, MessageSendBody } from '../feishu/bot-message-schema.js';
import type { CardPlan, OpenCard } from './card-plan.js';
import type { StateDb, StateRow } from '../replica/state-schema.js';

export interface CardRow {
  id: string;
  mapping: string;
  instanceId: string;
  taskId: string;
  version: number;
  userId: string;
  uuid: string;
  body: MessageSendBody;
  messageId: string | null;
  state: 'to_send' | 'sent' | 'to_close' | 'closed' | 'dropped' | 'parked';
  closeStatus: CardStatus | null;
  /** The text of a CUSTOM close (a refusal the approver should read). */
  closeText: string | null;
  attempts: number;
  lastError: string | null;
}

const COLUMNS = sql`id::text, mapping, instance_id, task_id, version, user_id, uuid, body, message_id, state,
  close_status, close_text, attempts, last_error`;

type MessageRow = Pick<
  StateRow<'bot_message'>,
  | 'id'
  | 'mapping'
  | 'instance_id'
  | 'task_id'
  | 'version'
  | 'user_id'
  | 'uuid'
  | 'body'
  | 'message_id'
  | 'state'
  | 'close_status'
  | 'close_text'
  | 'attempts'
  | 'last_error'
>;

function rowOf(r: MessageRow): CardRow {
  return {
    id: r.id,
    mapping: r.mapping,
    instanceId: r.instance_id,
    taskId: r.task_id,
    version: Number(r.version),
    userId: r.user_id,
    uuid: r.uuid,
    body: r.body as MessageSendBody,
    messageId: r.message_id,
    state: r.state,
    closeStatus: r.close_status as CardStatus | null,
    closeText: r.close_text,
    attempts: Number(r.attempts),
    lastError: r.last_error,
  };
}

export class MessageStore extends QueueTable {
  constructor(db: Kysely<StateDb>, schema: string) {
    super(db, schema, 'bot_message');
  }

  /** Cards of an instance that still show (or will show) buttons, and the last version per task. */
  async openCards(instanceId: string): Promise<{ open: OpenCard[]; lastVersion: Map<string, number> }> {
    const { rows } = await sql<
      Pick<MessageRow, 'id' | 'task_id' | 'user_id' | 'version' | 'state' | 'message_id'>
    >`select id::text, task_id, user_id, version, state, message_id from ${this.t}
      where instance_id = ${instanceId}`.execute(this.db);
    const open: OpenCard[] = [];
    const lastVersion = new Map<string, number>();
    for (const r of rows) {
      lastVersion.set(r.task_id, Math.max(lastVersion.get(r.task_id) ?? 0, Number(r.version)));
      if (r.state === 'to_send' || r.state === 'sent' || (r.state === 'parked' && r.message_id === null))
        open.push({ id: r.id, taskId: r.task_id, userId: r.user_id });
    }
    return { open, lastVersion };
  }

  /** Records a plan: new cards to send, cards to close. Repeating a plan changes nothing. */
  async apply(mapping: string, instanceId: string, plan: CardPlan): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      for (const s of plan.send) {
        await sql`insert into ${this.t} (mapping, instance_id, task_id, version, user_id, uuid, body)
          values (${mapping}, ${instanceId}, ${s.taskId}, ${s.version}, ${s.userId}, ${s.uuid}, ${JSON.stringify(s.body)}::jsonb)
          on conflict do nothing`.execute(tx);
      }
      for (const c of plan.close) await this.requestClose(c.id, c.status, null, tx);
    });
  }

  /** Asks for a card to be closed with `status` (a card never sent is dropped instead). */
  async requestClose(
    id: string,
    status: CardStatus,
    text: string | null = null,
    db: Kysely<StateDb> = this.db,
  ): Promise<void> {
    await sql`update ${this.t} set
        state = case when message_id is null then 'dropped' else 'to_close' end,
        close_status = ${status}, close_text = ${text}, attempts = 0, next_attempt_at = null, last_error = null
      where id = ${id}::bigint and state in ('to_send', 'sent', 'parked', 'closed')`.execute(db);
  }

  async due(limit: number, exclude: readonly string[]): Promise<CardRow[]> {
    const { rows } = await sql<MessageRow>`select ${COLUMNS} from ${this.t}
      where state in ('to_send', 'to_close') and (next_attempt_at is null or next_attempt_at <= now())
        and not (id::text = any(${exclude}::text[]))
      order by id limit ${limit}`.execute(this.db);
    return rows.map(rowOf);
  }

  async byMessageId(messageId: string): Promise<CardRow | undefined> {
    const { rows } = await sql<MessageRow>`select ${COLUMNS} from ${this.t} where message_id = ${messageId}
      order by id desc limit 1`.execute(this.db);
    return rows[0] ? rowOf(rows[0]) : undefined;
  }

  async latestOf(instanceId: string, taskId: string): Promise<CardRow | undefined> {
    const { rows } = await sql<MessageRow>`select ${COLUMNS} from ${this.t}
      where instance_id = ${instanceId} and task_id = ${taskId} order by version desc limit 1`.execute(
      this.db,
    );
    return rows[0] ? rowOf(rows[0]) : undefined;
  }

  async markSent(id: string, messageId: string): Promise<void> {
    // A close requested while the send was in flight now has a message to close.
    await sql`update ${this.t} set message_id = ${messageId}, sent_at = now(), attempts = 0, last_error = null,
        next_attempt_at = null,
        state = case when state = 'dropped' then 'to_close' else 'sent' end
      where id = ${id}::bigint`.execute(this.db);
  }

  async markClosed(id: string, status: CardStatus): Promise<void> {
    await sql`update ${this.t} set state = 'closed', closed_at = now(), attempts = 0, last_error = null
      where id = ${id}::bigint and state = 'to_close' and close_status = ${status}`.execute(this.db);
  }

  async markRetry(id: string, delayMs: number, error: string): Promise<void> {
    await this.retryLater(id, delayMs, error, null);
  }

  async park(id: string, reason: string): Promise<void> {
    await this.parkRow(id, reason, null);
  }
}
