// A pgoutput plugin whose values keep their exact Postgres text (int8, numeric, timestamps, json...).
// The library runs every value through pg's *global* type parsers; we replace the parser per relation
// column instead of touching pg.types, so nothing else in the process changes. Parse errors are
// returned as a message instead of thrown inside the socket handler, where they would be uncaught.
//
// Tuples are decoded here, not by the library: only the columns a table keeps (`keep`) become
// values, straight from the message buffer, into plain objects that share a shape per relation. The
// library's reader made a buffer view, a TextDecoder call and a dictionary-mode object per value,
// which was most of the connector's decoding time and garbage. Invariant: a kept column is present
// in every decoded tuple that carries it (null for SQL NULL, undefined for an unchanged TOAST value).
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { CdcError } from '../errors.js';

export type ParsedMessage = Pgoutput.Message | { tag: 'parse-error'; error: unknown };

/** Columns to decode for a table (`schema.name`); undefined: the table is not read, decode none. */
export type KeepColumns = (table: string) => ReadonlySet<string> | undefined;

interface Reader {
  _b: Buffer;
  _p: number;
}

interface RelationShape {
  schema: string;
  name: string;
  columns: readonly { name: string }[];
}

/** Per relation message: which column positions to decode, and whether a plain object is safe. */
interface TuplePlan {
  names: readonly string[];
  kept: readonly boolean[];
  /** A column named __proto__ cannot be a plain object's own property by assignment. */
  dictionary: boolean;
}

const exact = (text: string) => text;

export function createExactTextPlugin(publication: string, keep?: KeepColumns): PgoutputPlugin {
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication], messages: true });
  const parser = (plugin as unknown as { parser: Record<string, unknown> }).parser as {
    readRelationColumn(reader: unknown): Record<string, unknown>;
    readTuple(
      reader: Reader,
      relation: RelationShape,
      fallback?: Record<string, unknown> | null,
    ): Record<string, unknown>;
  };
  const readRelationColumn = parser.readRelationColumn.bind(parser);
  parser.readRelationColumn = (reader: unknown) => ({ ...readRelationColumn(reader), parser: exact });
  // Relation objects are replaced when a new relation message arrives: the plan goes with them.
  const plans = new WeakMap<RelationShape, TuplePlan>();
  const planOf = (relation: RelationShape): TuplePlan => {
    let plan = plans.get(relation);
    if (!plan) {
      const keepSet = keep ? keep(`${relation.schema}.${relation.name}`) : undefined;
      const names = relation.columns.map((c) => c.name);
      const kept = names.map((n) => (keep ? keepSet?.has(n) === true : true));
      plan = { names, kept, dictionary: names.some((n, i) => kept[i] && n === '__proto__') };
      plans.set(relation, plan);
    }
    return plan;
  };
  parser.readTuple = (reader, relation, fallback) =>
    readTuple(reader, planOf(relation), fallback ?? undefined);
  const parse = plugin.parse.bind(plugin);
  plugin.parse = ((buffer: Buffer) => {
    try {
      return parse(buffer);
    } catch (error) {
      return { tag: 'parse-error', error };
    }
  }) as typeof plugin.parse;
  return plugin;
}

function readTuple(
  reader: Reader,
  plan: TuplePlan,
  fallback: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const b = reader._b;
  let p = reader._p;
  const end = b.length;
  if (p + 2 > end) throw new CdcError('SOURCE_STREAM', 'unexpected end of message');
  const count = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  if (count > plan.names.length)
    throw new CdcError('SOURCE_STREAM', `tuple has ${count} columns, its relation ${plan.names.length}`);
  const tuple: Record<string, unknown> = plan.dictionary
    ? (Object.create(null) as Record<string, unknown>)
    : {};
  for (let i = 0; i < count; i++) {
    if (p >= end) throw new CdcError('SOURCE_STREAM', 'unexpected end of message');
    const kind = b[p++];
    const kept = plan.kept[i];
    if (kind === 0x74 /* t: text */) {
      if (p + 4 > end) throw new CdcError('SOURCE_STREAM', 'unexpected end of message');
      const size = b.readInt32BE(p);
      p += 4;
      if (size < 0 || p + size > end) throw new CdcError('SOURCE_STREAM', 'unexpected end of message');
      if (kept) tuple[plan.names[i]!] = b.toString('utf8', p, p + size);
      p += size;
    } else if (kind === 0x6e /* n: null */) {
      if (kept) tuple[plan.names[i]!] = null;
    } else if (kind === 0x75 /* u: unchanged TOAST value, not sent */) {
      if (kept) tuple[plan.names[i]!] = fallback?.[plan.names[i]!];
    } else {
      // 'b' (binary) is never asked for: the plugin requests text values.
      throw new CdcError('SOURCE_STREAM', `unexpected tuple value kind ${String.fromCharCode(kind ?? 0)}`);
    }
  }
  reader._p = p;
  return tuple;
}
