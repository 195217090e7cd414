-- A second legacy approval schema, of another style than examples/legacy-approval: a procurement
-- system with uuid keys, a jsonb form, a Postgres enum for the status, a soft-delete flag, dates and
-- times kept as text in separate columns (YYYYMMDD and HHMMSS, local time), and approvers and CC
-- recipients in ONE table told apart by `kind`, keyed by (doc_id, line_no).
-- Mapped by mappings/examples/procurement.yaml.
create schema if not exists proc;

create type proc.doc_status as enum ('draft', 'submitted', 'approved', 'rejected', 'withdrawn');

create table if not exists proc.departments (
  dept_id       uuid primary key,
  name          text not null,
  lark_dept_id  text                          -- Feishu open_department_id, null if not synced
);

create table if not exists proc.employees (
  emp_id        uuid primary key,
  full_name     text not null,
  lark_open_id  text,                         -- Feishu open_id, null for people not in Feishu
  dept_id       uuid                          -- proc.departments.dept_id
);

create table if not exists proc.documents (
  doc_id        uuid primary key,
  category      text not null,                -- 'PO' | 'CONTRACT' | 'PAYMENT'
  subject       text,
  owner_id      uuid not null,                -- proc.employees.emp_id
  status        proc.doc_status not null,
  form          jsonb not null default '{}',  -- {"number": "PO-2026-0042", "supplier": {"name": ...}, "total": 1234.50}
  tags          text[],
  created_date  char(8) not null,             -- YYYYMMDD, local time (Europe/Berlin)
  created_time  char(6) not null,             -- HHMMSS
  closed_date   char(8),                      -- null or '' while open
  closed_time   char(6),
  modified_at   timestamptz not null default now(),
  is_deleted    boolean not null default false -- soft delete: the row stays, the document is gone
);

create table if not exists proc.document_lines (
  doc_id        uuid not null,                -- proc.documents.doc_id
  line_no       integer not null,
  kind          text not null,                -- 'APPROVER' or 'CC'
  employee_id   uuid not null,                -- proc.employees.emp_id
  node_code     text,                         -- approval step: 'BUYER', 'FINANCE', 'CFO'
  decision      text,                         -- null = waiting; 'OK', 'NG', 'FWD' (forwarded)
  seen          boolean not null default false, -- CC lines: read by the recipient
  created_date  char(8) not null,
  created_time  char(6) not null,
  decided_date  char(8),
  decided_time  char(6),
  modified_at   timestamptz not null default now(),
  removed_at    timestamptz,                  -- soft delete of the line
  primary key (doc_id, line_no)
);
