-- The example legacy approval system (the "OA" schema) as a tenant meets it on day one: it knows its
-- users by internal number, email and mobile, and has no Feishu ids at all. The connector resolves
-- people through contact batch_get_id (mappings/oa-emails.yaml) and creates the approval
-- definitions from mappings/definitions.yaml. Otherwise identical to examples/legacy-approval.
create schema if not exists oa;

create table if not exists oa.users (
  user_no      integer primary key,
  login        text not null,
  display_name text not null,
  email        text,                       -- the user's own email (not an enterprise mailbox)
  mobile       text,                       -- mainland numbers without +86
  dept_code    text
);

create table if not exists oa.requests (
  req_id        bigserial primary key,
  form_type     smallint not null,         -- 1 leave, 2 expense, 3 purchase
  title         text not null,
  applicant_no  integer not null,          -- oa.users.user_no
  status_code   smallint not null,         -- 0 draft, 1 pending, 2 approved, 3 rejected, 4 withdrawn, 9 voided
  amount        numeric(12, 2),
  reason        text,
  detail_doc    text,                      -- large free text: TOASTed, unchanged in most updates
  submitted_at  timestamp without time zone not null,   -- local time (Asia/Shanghai)
  finished_at   timestamp without time zone,
  updated_at    timestamp without time zone not null default localtimestamp
);

create table if not exists oa.steps (
  step_id      bigserial primary key,
  req_id       bigint not null,            -- oa.requests.req_id
  seq          integer not null,
  node_name    text not null,
  approver_no  integer not null,           -- oa.users.user_no
  state_code   smallint not null,          -- 0 waiting, 1 agreed, 2 refused, 3 transferred, 4 skipped
  opinion      text,
  created_at   timestamp without time zone not null,
  acted_at     timestamp without time zone,
  updated_at   timestamp without time zone not null default localtimestamp
);
create index if not exists steps_req on oa.steps (req_id);

create table if not exists oa.cc (
  cc_no       bigserial primary key,
  req_id      bigint not null,
  user_no     integer not null,
  read_flag   char(1) not null default 'N', -- 'Y' read, 'N' unread
  created_at  timestamp without time zone not null,
  updated_at  timestamp without time zone not null default localtimestamp
);
create index if not exists cc_req on oa.cc (req_id);

-- An unmapped table with its own traffic, like every legacy system has.
create table if not exists oa.audit_log (
  id         bigserial primary key,
  at         timestamp without time zone not null default localtimestamp,
  message    text not null
);
