// The compiled form of one mapping: what the loader produces and the builder and MappingSet consume.
// Plain data, no behaviour; every Expr in it has been checked at load.
import type { LoopConfig } from './loop-config.js';
import type { Expr, LookupDef } from './expression.js';
import type { SourceRef } from './contract.js';
import type { LookupUsage } from './parse-context.js';
import type { SourceRefPath } from './table-collector.js';
import type { TextExpr } from './text-parser.js';
import type { Filter } from './filter.js';
import type { DisplayMethod, ReadStatus, TaskStatus, UpdateMode } from '../feishu/external-instance.js';

export interface CompiledLinks {
  readonly pcLink: Expr;
  readonly mobileLink?: Expr;
}

export interface CompiledSource {
  readonly table: string;
  readonly key: readonly string[];
  readonly where?: Filter;
  /** The id template (instance_id, task_id or cc_id); nulls in it make the id null, never "". */
  readonly id: Expr;
  readonly userId?: Expr;
  readonly openId?: Expr;
  readonly links?: CompiledLinks;
  readonly extra: readonly (readonly [string, Expr])[];
  readonly displayMethod?: Expr;
}

export interface CompiledInstance extends CompiledSource {
  readonly onDelete: 'delete' | 'ignore';
  readonly links: CompiledLinks;
  readonly approvalCode: Expr;
  readonly status: Expr;
  readonly title?: TextExpr;
  readonly userName?: TextExpr;
  readonly departmentId?: Expr;
  readonly departmentName?: TextExpr;
  readonly startTime: Expr;
  readonly endTime?: Expr;
  readonly updateTime: Expr;
  readonly form: readonly { readonly name: TextExpr; readonly value: TextExpr }[];
}

export interface CompiledChild extends CompiledSource {
  /** Columns of this table holding the instance key, in the instance key's order. */
  readonly parent: readonly string[];
  readonly createTime: Expr;
  readonly updateTime?: Expr;
}

export interface CompiledTask extends CompiledChild {
  readonly onDelete: 'drop' | 'keep' | { readonly status: TaskStatus };
  readonly title?: TextExpr;
  readonly status: Expr;
  readonly endTime?: Expr;
  readonly nodeId?: Expr;
  readonly nodeName?: TextExpr;
}

export interface CompiledCc extends CompiledChild {
  readonly onDelete: 'drop' | 'keep' | { readonly read_status: ReadStatus };
  readonly readStatus: Expr;
  readonly updateTime: Expr;
}

export interface CompiledMapping {
  readonly name: string;
  readonly file: string;
  readonly updateMode: UpdateMode;
  readonly defaultLocale: string;
  readonly instance: CompiledInstance;
  readonly tasks: readonly CompiledTask[];
  readonly ccs: readonly CompiledCc[];
  /** Columns read per table, and the key columns declared for source tables. */
  readonly tables: ReadonlyMap<
    string,
    { readonly columns: ReadonlySet<string>; readonly keyColumns?: readonly string[] }
  >;
  readonly lookupUsages: readonly LookupUsage[];
  readonly lookups: readonly LookupDef[];
  /** Where each table and column is first named (paths in the mapping's file). */
  readonly refs?: readonly SourceRefPath[];
  /** The same, placed at file:line:col by the loader. */
  readonly placedRefs?: readonly SourceRef[];
  /** Bot cards and quick approval (issue 18); undefined when the mapping declares neither. */
  readonly loop?: LoopConfig;
}

export const INSTANCE_STATUSES = [
  'PENDING',
  'APPROVED',
  'REJECTED',
  'CANCELED',
  'DELETED',
  'HIDDEN',
  'TERMINATED',
];
export const TASK_STATUSES: readonly TaskStatus[] = [
  'PENDING',
  'APPROVED',
  'REJECTED',
  'TRANSFERRED',
  'DONE',
];
export const READ_STATUSES: readonly ReadStatus[] = ['READ', 'UNREAD'];
export const DISPLAY_METHODS: readonly DisplayMethod[] = ['BROWSER', 'SIDEBAR', 'NORMAL', 'TRUSTEESHIP'];
