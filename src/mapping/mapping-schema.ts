// The zod schema of one mapping file: its structure, keys and scalar types. Expressions and filters
// are left as `unknown` here and parsed by expression-parser.ts / filter.ts, which know their grammar
// and give sharper messages than a zod union could.
// Invariant: every schema carries its "expected …" phrase as its error message, so a zod issue turns
// into `found <value>; expected <phrase>` without further knowledge of the schema.
import { z } from 'zod';
import { NotifySchema, QuickApprovalSchema } from './loop-schema.js';

/** Expression or filter positions: parsed later, any YAML value is acceptable here. */
const Later = z.unknown();
/** A required expression position. */
const Value = z.unknown().nonoptional({ error: 'a value: a text, a template or an operator object' });

function obj<T extends z.ZodRawShape>(shape: T, what: string) {
  const keys = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `one of the keys ${keys}` : what),
  });
}

const word = (what: string) => z.string({ error: what });
export const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$/;
const Table = word('a table name "schema.table"').regex(TABLE_RE, { error: 'a table name "schema.table"' });
const Column = word('a column name').min(1, { error: 'a column name' });
const Columns = z.union(
  [Column, z.array(Column, { error: 'a column name or a list of column names' }).min(1)],
  {
    error: 'a column name or a list of column names',
  },
);
const Name = word('a name of lowercase letters, digits, "-" and "_"').regex(/^[a-z][a-z0-9_-]*$/, {
  error: 'a name of lowercase letters, digits, "-" and "_"',
});
const Template = word('a template text such as "prefix-{column}"').min(1, {
  error: 'a template text such as "prefix-{column}"',
});
const UpdateMode = z.enum(['REPLACE', 'UPDATE'], { error: 'one of REPLACE, UPDATE' });
const NullInTemplates = z.enum(['empty', 'null'], { error: 'one of empty, null' });
const TimeZone = word('an IANA time zone such as Asia/Shanghai');
const Locale = word('a locale such as zh-CN');

const Options = {
  time_zone: TimeZone.optional(),
  default_locale: Locale.optional(),
  update_mode: UpdateMode.optional(),
  null_in_templates: NullInTemplates.optional(),
};

const Lookup = obj(
  { table: Table, key: Columns, columns: z.array(Column, { error: 'a list of column names' }).optional() },
  'a lookup: an object with table and key',
);
const Lookups = z.record(Name, Lookup, { error: 'an object of named lookups' });

const Links = obj(
  { pc_link: Value, mobile_link: Later.optional() },
  'an object with pc_link and mobile_link',
);
const Extra = z.record(z.string(), Later, { error: 'an object of extra keys (business_key, ...) to values' });
const FormEntry = obj({ name: Value, value: Value }, 'a form entry: an object with name and value');

const SourceBase = {
  table: Table,
  key: Columns,
  columns: z.array(Column, { error: 'a list of column names' }).optional(),
  where: Later.optional(),
  id: Template,
  user_id: Later.optional(),
  open_id: Later.optional(),
  links: Links.optional(),
  extra: Extra.optional(),
  display_method: Later.optional(),
  create_time: Value,
  update_time: Later.optional(),
};

const Instance = obj(
  {
    table: Table,
    key: Columns,
    columns: z.array(Column, { error: 'a list of column names' }).optional(),
    where: Later.optional(),
    on_delete: z.enum(['delete', 'ignore'], { error: 'one of delete, ignore' }).optional(),
    id: Template,
    approval_code: Value,
    status: Value,
    title: Later.optional(),
    links: Links,
    user_id: Later.optional(),
    open_id: Later.optional(),
    user_name: Later.optional(),
    department_id: Later.optional(),
    department_name: Later.optional(),
    start_time: Value,
    end_time: Later.optional(),
    update_time: Value,
    display_method: Later.optional(),
    extra: Extra.optional(),
    form: z.array(FormEntry, { error: 'a list of form entries' }).optional(),
  },
  'the instance source: an object with table, key, id, approval_code, status, links, start_time, update_time',
);

const TaskOnDelete = z.union(
  [
    z.enum(['drop', 'keep']),
    z.strictObject({ status: z.enum(['PENDING', 'APPROVED', 'REJECTED', 'TRANSFERRED', 'DONE']) }),
  ],
  { error: 'drop, keep or { status: <task status> }' },
);
const CcOnDelete = z.union(
  [z.enum(['drop', 'keep']), z.strictObject({ read_status: z.enum(['READ', 'UNREAD']) })],
  {
    error: 'drop, keep or { read_status: READ | UNREAD }',
  },
);

const Task = obj(
  {
    ...SourceBase,
    parent: Columns,
    on_delete: TaskOnDelete.optional(),
    title: Later.optional(),
    status: Value,
    end_time: Later.optional(),
    node_id: Later.optional(),
    node_name: Later.optional(),
  },
  'a task source: an object with table, key, parent, id, status, create_time',
);

const Cc = obj(
  {
    ...SourceBase,
    parent: Columns,
    on_delete: CcOnDelete.optional(),
    read_status: Value,
    update_time: Value,
  },
  'a CC source: an object with table, key, parent, id, read_status, create_time, update_time',
);

const Mapping = obj(
  {
    name: Name,
    ...Options,
    lookups: Lookups.optional(),
    instance: Instance,
    tasks: z.array(Task, { error: 'a list of task sources' }).optional(),
    ccs: z.array(Cc, { error: 'a list of CC sources' }).optional(),
    notify: NotifySchema.optional(),
    quick_approval: QuickApprovalSchema.optional(),
  },
  'a mapping: an object with name and instance',
);

export const MappingFileSchema = obj(
  {
    version: z.literal('1', { error: 'version 1' }).optional(),
    defaults: obj(
      Options,
      'an object of defaults (time_zone, default_locale, update_mode, null_in_templates)',
    ).optional(),
    lookups: Lookups.optional(),
    mappings: z.array(Mapping, { error: 'a list of mappings' }).min(1, { error: 'at least one mapping' }),
  },
  'a mapping file: an object with mappings',
);

export type MappingFile = z.infer<typeof MappingFileSchema>;
export type MappingDoc = MappingFile['mappings'][number];
export type InstanceDoc = MappingDoc['instance'];
export type TaskDoc = NonNullable<MappingDoc['tasks']>[number];
export type CcDoc = NonNullable<MappingDoc['ccs']>[number];
export type LookupDoc = z.infer<typeof Lookup>;
export type LinksDoc = z.infer<typeof Links>;
