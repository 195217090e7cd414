// Two tables the mappings read that are not legacy tables: the applied approval definitions (key ->
// the platform code Feishu answered) and resolved user identities (email or mobile -> Feishu id).
// Expressions ask for them with ordinary RowQuery values on these reserved names, so the payload
// builder stays pure: whoever loads rows (the replica's reader, after the sync stage's identity
// resolver filled the cache) answers them like any other query.
// Invariant: no legacy table can have these names ("@" is not valid in an unquoted identifier, and
// mapping tables must match TABLE_RE), so a virtual query never reaches the row-image replica.
import type { RowQuery } from './contract.js';

export const DEFINITIONS_TABLE = '@feishu.definitions';
export const IDENTITIES_TABLE = '@feishu.identities';

export const IDENTITY_KINDS = ['email', 'mobile'] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];
export const ID_TYPES = ['user_id', 'open_id', 'union_id'] as const;
export type IdType = (typeof ID_TYPES)[number];
/** What an unresolved person does: park the instance, drop the task/CC, or use this Feishu id. */
export type IdentityOtherwise = 'park' | 'drop' | { readonly user: string };

/** The row answering a definition query carries `platform_code`. */
export function definitionQuery(key: string): RowQuery {
  return { table: DEFINITIONS_TABLE, match: { key } };
}

/** The row answering an identity query carries `feishu_id`; no row = nobody in Feishu has it. */
export function identityQuery(kind: IdentityKind, value: string, idType: IdType): RowQuery {
  return { table: IDENTITIES_TABLE, match: { kind, value: normalizeIdentity(kind, value), id_type: idType } };
}

export function isVirtualQuery(q: RowQuery): boolean {
  return q.table === DEFINITIONS_TABLE || q.table === IDENTITIES_TABLE;
}

/** Emails compare case-insensitively; mobiles without spaces and dashes. */
export function normalizeIdentity(kind: IdentityKind, value: string): string {
  const v = value.trim();
  return kind === 'email' ? v.toLowerCase() : v.replace(/[\s-]/g, '');
}
