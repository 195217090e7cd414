// The compiled shape of a mapping's `notify` and `quick_approval` parts, as the notify and
// decisions stages read it. Types and constants only, so the mapping contract can name it without
// an import circle through the compiler.
import type { NamedSql } from './named-sql.js';

/** Parameters the applier binds for every decision, besides the task id template's placeholders. */
export const DECISION_PARAMETERS = [
  'decision',
  'comment',
  'operator',
  'operator_user_id',
  'instance_id',
  'task_id',
  'decision_id',
] as const;

export type WriteBack =
  | { readonly kind: 'sql'; readonly sql: NamedSql; readonly statement: string }
  | { readonly kind: 'http'; readonly url: string; readonly headers: Readonly<Record<string, string>> };

export interface QuickApprovalConfig {
  readonly actions: readonly {
    readonly type: 'APPROVE' | 'REJECT';
    readonly reason: 'none' | 'optional' | 'required';
  }[];
  readonly operator?: { readonly table: string; readonly match: string; readonly get: string };
  readonly writeBack: WriteBack;
}

export interface LoopConfig {
  /** Bot cards to pending tasks' approvers; null = none. Texts by locale. */
  readonly notify: { readonly note?: Readonly<Record<string, string>> } | null;
  readonly quickApproval: QuickApprovalConfig | null;
}
