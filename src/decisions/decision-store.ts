// Reads and writes the decision inbox (the `decision` table of the state database): one row per
// decision taken in Feishu, whatever the number of callbacks that carried it. States: received ->
// applied | refused, or received -> parked (with the reason) -> received again by `decisions retry`.
// Invariants: a decision is inserted once (dedupe_key); only received rows are handed to the applier;
// a row's final state is written after the legacy outcome is durable.
import { sql, type Kysely } from 'kysely';
import { QueueTable } from '../replica/queue-table.js';
import type { StateRow } from '../replica/state-schema.js';
import type { StateDb } from '../replica/state-schema.js';

export type DecisionState = 'received' | 'applied' | 'refused' | 'parked';

export interface Decision {
  id: string;
  dedupeKey: string;
  mapping: string;
  instanceId: string;
  taskId: string;
  messageId: string | null;
  via: string;
  actionType: string;
  reason: string | null;
  operatorUserId: string;
  state: DecisionState;
  outcome: string | null;
  attempts: number;
  lastError: string | null;
  receivedAt: Date;
  decidedAt: Date | null;
}

export type NewDecision = Pick<
  Decision,
  | 'dedupeKey'
  | 'mapping'
  | 'instanceId'
  | 'taskId'
  | 'messageId'
  | 'via'
  | 'actionType'
  | 'reason'
  | 'operatorUserId'
>;

const COLUMNS = sql`id::text, dedupe_key, mapping, instance_id, task_id, message_id, via, action_type, reason,
  operator_user_id, state, outcome, attempts, last_error, received_at, decided_at`;

type DecisionRow = Omit<StateRow<'decision'>, 'next_attempt_at'>;

function rowOf(r: DecisionRow): Decision {
  return {
    id: r.id,
    dedupeKey: r.dedupe_key,
    mapping: r.mapping,
    instanceId: r.instance_id,
    taskId: r.task_id,
    messageId: r.message_id,
    via: r.via,
    actionType: r.action_type,
    reason: r.reason,
    operatorUserId: r.operator_user_id,
    state: r.state,
    outcome: r.outcome,
    attempts: Number(r.attempts),
    lastError: r.last_error,
    receivedAt: new Date(r.received_at),
    decidedAt: r.decided_at ? new Date(r.decided_at) : null,
  };
}

export class DecisionStore extends QueueTable {
  constructor(db: Kysely<StateDb>, schema: string) {
    super(db, schema, 'decision');
  }

  async byKey(dedupeKey: string): Promise<Decision | undefined> {
    const { rows } =
      await sql<DecisionRow>`select ${COLUMNS} from ${this.t} where dedupe_key = ${dedupeKey}`.execute(
        this.db,
      );
    return rows[0] ? rowOf(rows[0]) : undefined;
  }

  /** Inserts a decision (state received, or refused with its outcome); false when its key exists. */
  async insert(d: NewDecision, refused: string | null = null): Promise<boolean> {
    const res = await sql`insert into ${this.t}
        (dedupe_key, mapping, instance_id, task_id, message_id, via, action_type, reason, operator_user_id,
         state, outcome, decided_at)
      values (${d.dedupeKey}, ${d.mapping}, ${d.instanceId}, ${d.taskId}, ${d.messageId}, ${d.via},
        ${d.actionType}, ${d.reason}, ${d.operatorUserId}, ${refused === null ? 'received' : 'refused'},
        ${refused}, ${refused === null ? null : new Date()})
      on conflict (dedupe_key) do nothing`.execute(this.db);
    return Number(res.numAffectedRows ?? 0) === 1;
  }

  async due(limit: number, exclude: readonly string[]): Promise<Decision[]> {
    const { rows } = await sql<DecisionRow>`select ${COLUMNS} from ${this.t}
      where state = 'received' and (next_attempt_at is null or next_attempt_at <= now())
        and not (id::text = any(${exclude}::text[]))
      order by id limit ${limit}`.execute(this.db);
    return rows.map(rowOf);
  }

  async finish(id: string, state: 'applied' | 'refused', outcome: string): Promise<void> {
    await sql`update ${this.t} set state = ${state}, outcome = ${outcome}, decided_at = now(),
        attempts = attempts + 1, last_error = null, next_attempt_at = null
      where id = ${id}::bigint and state = 'received'`.execute(this.db);
  }

  async markRetry(id: string, delayMs: number, error: string): Promise<void> {
    await this.retryLater(id, delayMs, error, 'received');
  }

  async park(id: string, reason: string): Promise<void> {
    await this.parkRow(id, reason, 'received');
  }

  async list(states: readonly DecisionState[] | 'all', limit = 200): Promise<Decision[]> {
    const { rows } = await sql<DecisionRow>`select ${COLUMNS} from ${this.t}
      where ${states === 'all'} or state = any(${states === 'all' ? [] : states}::text[])
      order by id desc limit ${limit}`.execute(this.db);
    return rows.map(rowOf);
  }

  /** Parked decisions (all, or these ids) go back to received, to be applied again now. */
  async retryParked(ids: readonly string[] | 'all'): Promise<number> {
    const res = await sql`update ${this.t} set state = 'received', next_attempt_at = null
      where state = 'parked' and (${ids === 'all'} or id::text = any(${ids === 'all' ? [] : ids}::text[]))`.execute(
      this.db,
    );
    return Number(res.numAffectedRows ?? 0);
  }
}
