// The two optional parts of a mapping that close the loop with Feishu (issue 18): `notify` (an
// approval bot card to each pending task's approver) and `quick_approval` (approve/reject buttons,
// the operator mapped back to a legacy user, and the declarative write-back of a decision). Their
// zod schema lives here so mapping-schema.ts only names them.
import { z } from 'zod';

const Texts = z.union([z.string().min(1), z.record(z.string(), z.string().min(1))], {
  error: 'a text, or an object of locale to text such as { zh-CN: …, en-US: … }',
});

export const NotifySchema = z.union(
  [
    z.literal(true),
    z.strictObject(
      { note: Texts.optional() },
      { error: 'true, or an object with note (a text shown at the foot of the card)' },
    ),
  ],
  { error: 'true, or an object with note' },
);

const Action = z.strictObject(
  {
    type: z.enum(['APPROVE', 'REJECT'], { error: 'one of APPROVE, REJECT' }),
    reason: z.enum(['none', 'optional', 'required'], { error: 'one of none, optional, required' }).optional(),
  },
  { error: 'an action: an object with type (APPROVE or REJECT) and reason (none, optional, required)' },
);

const Operator = z.strictObject(
  {
    table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$/, {
      error: 'a table name "schema.table"',
    }),
    match: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, { error: 'a column name' }),
    get: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, { error: 'a column name' }),
  },
  { error: 'the operator: an object with table, match (the Feishu user_id column) and get' },
);

const WriteBack = z.union(
  [
    z.strictObject({ sql: z.string().min(1, { error: 'an SQL statement' }) }),
    z.strictObject({
      http: z.strictObject({
        url: z.string().regex(/^https?:\/\//, { error: 'an http(s) URL template' }),
        headers: z.record(z.string(), z.string()).optional(),
      }),
    }),
  ],
  { error: 'a write-back: { sql: <statement with :named parameters> } or { http: { url } }' },
);

export const QuickApprovalSchema = z.strictObject(
  {
    actions: z
      .array(Action, { error: 'a list of actions' })
      .min(1, { error: 'one or two actions' })
      .max(2, { error: 'at most two actions (Feishu shows two)' }),
    operator: Operator.optional(),
    write_back: WriteBack,
  },
  { error: 'quick approval: an object with actions, write_back and optionally operator' },
);

export type NotifyDoc = z.infer<typeof NotifySchema>;
export type QuickApprovalDoc = z.infer<typeof QuickApprovalSchema>;
