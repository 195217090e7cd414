// A pgoutput plugin whose values keep their exact Postgres text (int8, numeric, timestamps, json...).
// The library runs every value through pg's *global* type parsers; we replace the parser per relation
// column instead of touching pg.types, so nothing else in the process changes. Parse errors are
// returned as a message instead of thrown inside the socket handler, where they would be uncaught.
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';

export type ParsedMessage = Pgoutput.Message | { tag: 'parse-error'; error: unknown };

const exact = (text: string) => text;

export function createExactTextPlugin(publication: string): PgoutputPlugin {
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication], messages: true });
  const parser = (plugin as unknown as { parser: { readRelationColumn(reader: unknown): Record<string, unknown> } }).parser;
  const readRelationColumn = parser.readRelationColumn.bind(parser);
  parser.readRelationColumn = (reader: unknown) => ({ ...readRelationColumn(reader), parser: exact });
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
