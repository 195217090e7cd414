-- The example legacy approval system (the "OA" schema) as a tenant meets it on day one: it knows its
-- users by internal number, email and mobile, and has no Feishu ids at all. The connector resolves
-- people through contact batch_get_id (mappings/oa-emails.yaml) and creates the approval
-- definitions from mappings/definitions.yaml.
-- Everything else is examples/legacy-approval/schema.sql: run that first, then this file
-- (psql -f examples/legacy-approval/schema.sql -f examples/emails-only/schema.sql).
alter table oa.users drop column if exists feishu_uid;
alter table oa.users add column if not exists email text;   -- the user's own email (not an enterprise mailbox)
alter table oa.users add column if not exists mobile text;  -- mainland numbers without +86
