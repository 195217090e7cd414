// The state schema, as kysely migrations. The schema name is a setting, so migrations are built for a
// given schema. Invariant: migrations only ever add; a released migration is never edited.
import { sql, type Kysely, type Migration } from 'kysely';

export function stateMigrations(schema: string): Record<string, Migration> {
  const s = (name: string) => sql.id(schema, name);
  return {
    '0001-initial': {
      async up(db: Kysely<unknown>) {
        await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
        // Last image of every mapped row; a deleted row stays as a tombstone (deleted = true) so that
        // a replayed older change cannot resurrect it and a key-only delete still knows its instance.
        await sql`create table ${s('row_image')} (
          tbl text not null,
          pk text not null,
          lsn bigint not null,
          deleted boolean not null default false,
          data jsonb not null,
          primary key (tbl, pk)
        )`.execute(db);
        await sql`create index row_image_data on ${s('row_image')} using gin (data jsonb_path_ops)`.execute(
          db,
        );
        // One row per instance: its replica version (bumped by every applied change) and what Feishu has.
        await sql`create table ${s('instance')} (
          id text primary key,
          mapping text not null,
          key jsonb not null,
          external_id text not null,
          version bigint not null default 1,
          synced_version bigint not null default 0,
          lane smallint not null default 0,
          dirty_since timestamptz,
          first_commit_at timestamptz,
          last_update_time bigint not null default 0,
          attempts integer not null default 0,
          next_attempt_at timestamptz,
          parked_at timestamptz,
          parked_reason text,
          last_error text,
          last_error_code text,
          synced_at timestamptz,
          pushes bigint not null default 0
        )`.execute(db);
        await sql`create index instance_dirty on ${s('instance')} (lane, dirty_since) where version > synced_version and parked_at is null`.execute(
          db,
        );
        await sql`create index instance_parked on ${s('instance')} (parked_at) where parked_at is not null`.execute(
          db,
        );
        // The position up to which the source's changes are durable here, per slot.
        await sql`create table ${s('checkpoint')} (
          slot text primary key,
          lsn bigint not null,
          phase text not null default 'streaming',
          consistent_lsn bigint,
          snapshot_progress jsonb not null default '{}'::jsonb,
          last_commit_at timestamptz,
          updated_at timestamptz not null default now()
        )`.execute(db);
      },
    },
    '0002-backfill-priority': {
      async up(db: Kysely<unknown>) {
        // Backfill order: open approvals first, then newest first (priority = open * 1e13 + start ms).
        await sql`alter table ${s('instance')} add column priority bigint not null default 0`.execute(db);
        // The instance row's own update time (ms) as seen by the initial copy: "changed since" selection.
        await sql`alter table ${s('instance')} add column source_update_ms bigint not null default 0`.execute(
          db,
        );
        await sql`drop index ${s('instance_dirty')}`.execute(db);
        await sql`create index instance_due on ${s('instance')} (lane, priority desc, dirty_since) where version > synced_version and parked_at is null`.execute(
          db,
        );
      },
    },
    '0003-row-query-indexes': {
      async up(db: Kysely<unknown>) {
        // Lookups now go through one btree index per queried column (src/replica/row-query.ts,
        // created from the mappings at start): the GIN index made every lookup scan its pending list.
        await sql`drop index if exists ${s('row_image_data')}`.execute(db);
      },
    },
    '0004-image-horizon': {
      async up(db: Kysely<unknown>) {
        // The highest LSN of any image written for the slot (null: not known yet, computed once from
        // row_image). An insert from beyond it cannot have an image, so its image is not read.
        await sql`alter table ${s('checkpoint')} add column image_lsn bigint`.execute(db);
      },
    },
    '0005-copy-lsn': {
      async up(db: Kysely<unknown>) {
        // The LSN the snapshot copy's images carry: the WAL position just before the slot was
        // created, below every change the slot streams (null: a copy begun before this migration,
        // which uses the consistent point as before).
        await sql`alter table ${s('checkpoint')} add column copy_lsn bigint`.execute(db);
      },
    },
    '0014-push-gate': {
      async up(db: Kysely<unknown>) {
        // Whether the daemon of a slot may push (src/sync/push-gate.ts), so that `status` shows a stop
        // (bad credentials, a missing scope) without asking the daemon.
        await sql`create table ${s('push_gate')} (
          slot text primary key,
          state text not null,
          reason text,
          code text,
          since timestamptz,
          next_probe_at timestamptz,
          probes integer not null default 0,
          updated_at timestamptz not null default now()
        )`.execute(db);
      },
    },
    '0014c-bounded-keys': {
      async up(db: Kysely<unknown>) {
        // Keys of any length: a btree entry holds at most 2,704 bytes, and a legal source key can be
        // longer (a 6,400-character text key failed every write of its row, for good). row_image is
        // unique on SHA-256 of the key (src/replica/replica-statements.ts, pkDigest, must use the
        // same text); the raw key is still stored and compared. Instance ids are bounded where they
        // are made (src/replica/instance-vocabulary.ts); external ids are found through their md5.
        await sql`alter table ${s('row_image')} drop constraint row_image_pkey`.execute(db);
        await sql`create unique index row_image_key on ${s('row_image')}
          (tbl, sha256(replace(pk, E'\\\\', E'\\\\\\\\')::bytea))`.execute(db);
        // Same name as 0016's index on the raw value, so that its `if not exists` keeps this one.
        await sql`drop index if exists ${s('instance_external_id')}`.execute(db);
        await sql`create index instance_external_id on ${s('instance')} (md5(external_id))`.execute(db);
      },
    },
    '0014c-parked-changes': {
      async up(db: Kysely<unknown>) {
        // Source changes the replica could not store (a database error tied to the row's values):
        // recorded, their instances parked, the stream moved on (src/replica/change-parking.ts).
        // One LSN is one change of one table, so a replayed change is recorded once.
        await sql`create table ${s('parked_change')} (
          id bigserial primary key,
          slot text not null,
          lsn bigint not null,
          tbl text not null,
          pk text,
          kind text not null,
          sqlstate text,
          error text not null,
          instances jsonb not null default '[]'::jsonb,
          parked_at timestamptz not null default now(),
          unique (slot, lsn, tbl)
        )`.execute(db);
        // A stream failing again and again at one position (src/source/replication-stream.ts), so
        // `status` shows it without asking the daemon; the row goes once the stream moves past.
        await sql`create table ${s('stream_fault')} (
          slot text primary key,
          position bigint not null,
          tables text,
          error text not null,
          failures integer not null,
          since timestamptz not null default now(),
          updated_at timestamptz not null default now()
        )`.execute(db);
      },
    },
    '0014c-feishu-floor': {
      async up(db: Kysely<unknown>) {
        // An instance first seen in a snapshot copy (the backfill lane) may be held by Feishu already,
        // pushed by another state database with a higher update_time: its first push asks Feishu
        // first (src/sync/feishu-floor.ts). Instances created by a live change are new to Feishu.
        await sql`alter table ${s('instance')} add column floor_unknown boolean not null default false`.execute(
          db,
        );
      },
    },
    '0016-push-history': {
      async up(db: Kysely<unknown>) {
        // The last pushes of each instance (time, result, Feishu code), for `status` and the console.
        // Bounded: sync/push-history.ts prunes it per instance and in total after each write.
        await sql`create table ${s('push_history')} (
          id bigserial primary key,
          at timestamptz not null default now(),
          instance_id text not null,
          external_id text not null,
          version bigint not null,
          lane smallint not null,
          result text not null,
          code text not null,
          message text,
          update_time bigint
        )`.execute(db);
        await sql`create index push_history_instance on ${s('push_history')} (instance_id, id)`.execute(db);
        // The console finds an instance by its external id; without this, a full scan of `instance`.
        await sql`create index if not exists instance_external_id on ${s('instance')} (external_id)`.execute(
          db,
        );
      },
    },
    '0016b-parked-class': {
      async up(db: Kysely<unknown>) {
        // What parked instances of one problem share: the reason with digits and quoted text blanked,
        // set when an instance is parked (replica/instance-table.ts). The console groups by it and
        // pages through a group with this index, whatever the size of the parked set.
        await sql`alter table ${s('instance')} add column parked_class text`.execute(db);
        await sql`update ${s('instance')} set parked_class = regexp_replace(regexp_replace(coalesce(parked_reason, ''),
            '"[^"]*"', '"…"', 'g'), '[0-9]+', '#', 'g') where parked_at is not null`.execute(db);
        await sql`create index instance_parked_group on ${s('instance')}
            (coalesce(last_error_code, ''), parked_class, parked_at, id) where parked_at is not null`.execute(
          db,
        );
      },
    },
    '0018-bot-messages-and-decisions': {
      async up(db: Kysely<unknown>) {
        // One approval bot card per pending episode of a task (src/notify/): the uuid Feishu
        // dedupes on, the message id Feishu answered, and whether the card still shows live buttons.
        await sql`create table ${s('bot_message')} (
          id bigserial primary key,
          mapping text not null,
          instance_id text not null,
          task_id text not null,
          version integer not null,
          user_id text not null,
          uuid text not null unique,
          body jsonb not null,
          message_id text,
          state text not null default 'to_send',
          close_status text,
          close_text text,
          attempts integer not null default 0,
          next_attempt_at timestamptz,
          last_error text,
          created_at timestamptz not null default now(),
          sent_at timestamptz,
          closed_at timestamptz,
          unique (instance_id, task_id, version)
        )`.execute(db);
        await sql`create index bot_message_due on ${s('bot_message')} (id) where state in ('to_send', 'to_close')`.execute(
          db,
        );
        await sql`create index bot_message_by_message on ${s('bot_message')} (message_id) where message_id is not null`.execute(
          db,
        );
        // The durable inbox of quick-approval decisions taken in Feishu (src/decisions/): one row per
        // decision, whatever the number of callbacks that carried it (dedupe_key).
        await sql`create table ${s('decision')} (
          id bigserial primary key,
          dedupe_key text not null unique,
          mapping text not null,
          instance_id text not null,
          task_id text not null,
          message_id text,
          via text not null,
          action_type text not null,
          reason text,
          operator_user_id text not null,
          state text not null default 'received',
          outcome text,
          attempts integer not null default 0,
          next_attempt_at timestamptz,
          last_error text,
          received_at timestamptz not null default now(),
          decided_at timestamptz
        )`.execute(db);
        await sql`create index decision_due on ${s('decision')} (id) where state = 'received'`.execute(db);
      },
    },
    '0021-accepted-digest': {
      async up(db: Kysely<unknown>) {
        // Digest of the last payload Feishu accepted for the instance, without update_time (null:
        // unknown, push). A dirty instance whose payload has the same digest is synced without a push.
        await sql`alter table ${s('instance')} add column accepted_digest text`.execute(db);
      },
    },
    '0017-definitions-identities': {
      async up(db: Kysely<unknown>) {
        // Definitions as code: the custom code we send (key) and the platform code Feishu answered,
        // which GET and instances need (feishu-beyond-instances.md §1.1); definitions cannot be
        // listed or deleted in Feishu, so this table is the only memory of what was created.
        await sql`create table ${s('feishu_definition')} (
          key text primary key,
          platform_code text not null,
          group_code text not null,
          spec_hash text not null,
          applied_at timestamptz not null default now()
        )`.execute(db);
        // Legacy identity (email or mobile) -> Feishu id of one type, from contact batch_get_id.
        // feishu_id null = looked up and not found (a negative entry, kept briefly).
        await sql`create table ${s('feishu_identity')} (
          kind text not null,
          value text not null,
          id_type text not null,
          feishu_id text,
          resolved_at timestamptz not null default now(),
          primary key (kind, value, id_type)
        )`.execute(db);
        // Counted Feishu calls per calendar month (China time, when Feishu's quota renews): the
        // monthly quota has no API to read its counter (feishu-beyond-instances.md §3.7).
        await sql`create table ${s('feishu_calls')} (
          month text primary key,
          calls bigint not null default 0,
          updated_at timestamptz not null default now()
        )`.execute(db);
        // `approval-cdc resume`: a request the running connector picks up, whatever stopped pushing.
        await sql`create table ${s('resume_request')} (
          slot text primary key,
          requested_at timestamptz not null default now()
        )`.execute(db);
      },
    },
    '0015-connector-run': {
      async up(db: Kysely<unknown>) {
        // The active connector's own run per slot: when it started, when it stopped, and the fatal
        // error it stopped on, so that `status` says why the connector itself is failing.
        await sql`create table ${s('connector_run')} (
          slot text primary key,
          pid integer not null,
          started_at timestamptz not null,
          stopped_at timestamptz,
          failed_at timestamptz,
          failure_code text,
          failure_message text
        )`.execute(db);
      },
    },
    '0021b-rate-ledger': {
      async up(db: Kysely<unknown>) {
        // Every external_instances call of the last minutes, per Feishu app, written before the call:
        // a restarted connector or a standby taking over counts what Feishu still counts.
        await sql`create table ${s('rate_ledger')} (
          id bigserial primary key,
          app text not null,
          started_at timestamptz not null,
          ended_at timestamptz
        )`.execute(db);
        await sql`create index rate_ledger_recent on ${s('rate_ledger')} (app, started_at)`.execute(db);
      },
    },
    '0021c-bulk-lane': {
      async up(db: Kysely<unknown>) {
        // A lane between live and backfill for bulk transactions: backfill moves from 1 to 2 (lanes
        // are ordered by number), in the instances and in the push history alike.
        await sql`update ${s('instance')} set lane = 2 where lane = 1`.execute(db);
        await sql`update ${s('push_history')} set lane = 2 where lane = 1`.execute(db);
      },
    },
    '0021d-bulk-spool': {
      async up(db: Kysely<unknown>) {
        // Row changes of a large transaction set aside so that later transactions reach the replica
        // first (src/replica/bulk-spool.ts); applied, in id order, and deleted by the replica writer.
        await sql`create table ${s('bulk_spool')} (
          id bigserial primary key,
          slot text not null,
          last_lsn bigint not null,
          changes text not null,
          created_at timestamptz not null default now()
        )`.execute(db);
      },
    },
    '0022-ordered-keys': {
      async up(db: Kysely<unknown>) {
        // Ordered index keys instead of digests (src/replica/index-keys.ts, whose text these must
        // be): a digest scatters the inserts of keys a source hands out in order over the whole
        // index, which cost the copy and the stream most of their state-server time. The key's
        // SHA-256 stays as the last column, to tell apart two keys longer than the prefix. The lookup
        // indexes over md5 are replaced when the connector next starts (row-query.ts).
        await sql`drop index if exists ${s('row_image_key')}`.execute(db);
        await sql`create unique index row_image_key on ${s('row_image')}
          (tbl, (left(pk, 256) collate "C"), sha256(replace(pk, E'\\\\', E'\\\\\\\\')::bytea))`.execute(db);
        await sql`drop index if exists ${s('instance_external_id')}`.execute(db);
        await sql`create index instance_external_id on ${s('instance')} ((left(external_id, 256) collate "C"))`.execute(
          db,
        );
      },
    },
    '0023-held-instances': {
      async up(db: Kysely<unknown>) {
        // Instances whose replica rows hold part of a source transaction whose rest is not applied
        // yet are not pushed (src/replica/held-instances.ts): hold_lsn, the commit LSN of the
        // stream's open transaction, holds until the checkpoint passes it; spool_hold until the bulk
        // spool is found empty.
        await sql`alter table ${s('instance')} add column hold_lsn bigint`.execute(db);
        await sql`create table ${s('spool_hold')} (id text primary key)`.execute(db);
      },
    },
    '0024-short-key-digest': {
      async up(db: Kysely<unknown>) {
        // Undoes an unreleased experiment: for a few days of development, 0024 hashed only keys longer
        // than the prefix. It made the copy's inserts cheaper and the stream's upserts and lookups
        // dearer (the ingest bench's state server used 4.5-6.5 CPU s a round instead of 3.4-3.9;
        // docs/benchmarks.md). A database migrated then gets 0022's index back; any other is left
        // as it is.
        const { rows } = await sql<{ def: string }>`select indexdef as def from pg_indexes
          where schemaname = ${schema} and indexname = 'row_image_key'`.execute(db);
        if (!rows.some((r) => r.def.includes('CASE'))) return;
        await sql`drop index ${s('row_image_key')}`.execute(db);
        await sql`create unique index row_image_key on ${s('row_image')}
          (tbl, (left(pk, 256) collate "C"), sha256(replace(pk, E'\\\\', E'\\\\\\\\')::bytea))`.execute(db);
      },
    },
    '0025-spool-instances': {
      async up(db: Kysely<unknown>) {
        // The instances a spooled batch's changes belong to (null: not known, read for every
        // instance): a change to one instance of a data fix reads only the batches that hold it,
        // not the whole spool (src/replica/bulk-spool.ts).
        await sql`alter table ${s('bulk_spool')} add column instances text[]`.execute(db);
      },
    },
  };
}
