// Executes one decision on the legacy side through the mapping's declarative write-back: an SQL
// statement with named, bound parameters on the legacy database (its own role, its own
// transaction), or an HTTP call to the legacy system's API.
// Exactly once, SQL: the decision's key is inserted into a ledger table in the legacy database in the
// same transaction as the statement; a key already there means the decision was applied before
// (a crash after the legacy commit), so the statement is not run again. The outcome is thus recorded
// with the change itself, never next to it.
// Exactly once, HTTP: the legacy API must be idempotent on the Idempotency-Key header (the decision's
// key), which every attempt sends; the connector cannot record the outcome in the legacy system.
// Invariant: no value is ever spliced into SQL text; a statement that changes (or returns) no row is a
// refusal by the legacy system, and its transaction, ledger row included, is rolled back.
import pg from 'pg';
import { CdcError } from '../errors.js';
import { request } from 'undici';
import type { QuickApprovalConfig } from '../mapping/loop-config.js';
import { bindNamed } from '../mapping/named-sql.js';

export type WriteBackOutcome =
  | { kind: 'applied'; detail: string }
  | { kind: 'already'; detail: string }
  | { kind: 'refused'; detail: string };

/** Thrown for failures worth retrying soon (connection lost, serialization, HTTP 5xx/network). */

export type DecisionParams = Record<string, string | null>;

const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$/;

function quoteTable(table: string): string {
  if (!TABLE_RE.test(table))
    throw new CdcError('CONFIG_INVALID', `not a table name "schema.table": ${table}`);
  return table
    .split('.')
    .map((p) => `"${p}"`)
    .join('.');
}

/** Creates the ledger (as the connector's own role, once) and lets the write-back role use it. */
export async function ensureLedger(adminUrl: string, ledger: string, writebackRole: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'approval-cdc-setup' });
  await client.connect();
  try {
    const [schema] = ledger.split('.') as [string, string];
    const t = quoteTable(ledger);
    await client.query(`create schema if not exists "${schema}"`);
    await client.query(`create table if not exists ${t} (
      decision_key text primary key,
      decision_id bigint not null,
      applied_at timestamptz not null default now())`);
    const role = `"${writebackRole.replace(/"/g, '""')}"`;
    await client.query(`grant usage on schema "${schema}" to ${role}`);
    await client.query(`grant select, insert on ${t} to ${role}`);
  } finally {
    await client.end();
  }
}

const TRANSIENT_SQLSTATE = /^(08|53|57P|40001|40P01|55P03)/;

export function isTransientPgError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return true; // no SQLSTATE: the connection itself failed
  return TRANSIENT_SQLSTATE.test(code) || code === 'ECONNREFUSED' || code === 'ECONNRESET';
}

export class WriteBack {
  constructor(
    private readonly pool: pg.Pool | null,
    private readonly ledger: string,
    private readonly requestTimeoutMs = 10_000,
  ) {}

  async apply(
    key: string,
    decisionId: string,
    config: QuickApprovalConfig,
    params: DecisionParams,
  ): Promise<WriteBackOutcome> {
    return config.writeBack.kind === 'sql'
      ? this.applySql(key, decisionId, config, params)
      : this.applyHttp(key, config, params);
  }

  private async applySql(
    key: string,
    decisionId: string,
    config: QuickApprovalConfig,
    params: DecisionParams,
  ): Promise<WriteBackOutcome> {
    if (config.writeBack.kind !== 'sql') throw new CdcError('INTERNAL', 'not an SQL write-back');
    if (!this.pool)
      throw new CdcError('CONFIG_INVALID', 'an SQL write-back needs APPROVAL_CDC_WRITEBACK_URL');
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('begin');
      const first = await client.query(
        `insert into ${quoteTable(this.ledger)} (decision_key, decision_id) values ($1, $2)
         on conflict (decision_key) do nothing`,
        [key, decisionId],
      );
      if (first.rowCount === 0) {
        await client.query('rollback');
        return { kind: 'already', detail: 'applied before (found in the legacy ledger)' };
      }
      const bound = { ...params };
      if (config.operator) {
        const { table, match, get } = config.operator;
        const found = await client.query(
          `select "${get}"::text as v from ${quoteTable(table)} where "${match}"::text = $1 limit 2`,
          [params.operator_user_id],
        );
        if (found.rows.length !== 1) {
          await client.query('rollback');
          return {
            kind: 'refused',
            detail: `operator ${String(params.operator_user_id)} is ${found.rows.length === 0 ? 'no' : 'more than one'} legacy user (${table}.${match})`,
          };
        }
        bound.operator = (found.rows[0] as { v: string | null }).v;
      }
      const sql = config.writeBack.sql;
      const res = await client.query(sql.text, bindNamed(sql, bound));
      const rows = res.rowCount ?? res.rows.length;
      if (!rows) {
        await client.query('rollback');
        return {
          kind: 'refused',
          detail: 'the legacy system changed nothing: the task is no longer pending there',
        };
      }
      await client.query('commit');
      return { kind: 'applied', detail: `applied: ${rows} row${rows === 1 ? '' : 's'}` };
    } catch (error) {
      broken = true;
      await client.query('rollback').catch(() => undefined);
      throw new CdcError(
        isTransientPgError(error) ? 'WRITE_BACK_TRANSIENT' : 'WRITE_BACK_FAILED',
        describePg(error),
        {
          cause: error,
        },
      );
    } finally {
      client.release(broken);
    }
  }

  private async applyHttp(
    key: string,
    config: QuickApprovalConfig,
    params: DecisionParams,
  ): Promise<WriteBackOutcome> {
    if (config.writeBack.kind !== 'http') throw new CdcError('INTERNAL', 'not an HTTP write-back');
    const url = config.writeBack.url.replace(/\{([^}]*)\}/g, (_, name: string) =>
      encodeURIComponent(params[name] ?? ''),
    );
    let res;
    try {
      res = await request(url, {
        method: 'POST',
        headers: {
          ...config.writeBack.headers,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body: JSON.stringify(params),
        headersTimeout: this.requestTimeoutMs,
        bodyTimeout: this.requestTimeoutMs,
      });
    } catch (error) {
      throw new CdcError('WRITE_BACK_TRANSIENT', `write-back call failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const text = (await res.body.text()).slice(0, 300);
    if (res.statusCode >= 200 && res.statusCode < 300)
      return { kind: 'applied', detail: `HTTP ${res.statusCode}` };
    if (res.statusCode === 409 || res.statusCode === 422)
      return { kind: 'refused', detail: `the legacy API refused it: HTTP ${res.statusCode} ${text}` };
    if (res.statusCode >= 500 || res.statusCode === 429)
      throw new CdcError('WRITE_BACK_TRANSIENT', `write-back call answered HTTP ${res.statusCode} ${text}`);
    throw new CdcError('WRITE_BACK_FAILED', `write-back call answered HTTP ${res.statusCode} ${text}`);
  }
}

function describePg(error: unknown): string {
  const e = error as { message?: string; code?: string };
  return `${e.message ?? String(error)}${e.code ? ` (SQLSTATE ${e.code})` : ''}`;
}
