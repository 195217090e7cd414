// Owns reading settings input as the user wrote it: the config file (YAML or JSON) with its syntax
// errors at line:column, unknown keys and APPROVAL_CDC_* variables with the name they probably meant,
// and the wording of a bad value. Invariant: a problem names where the value came from, what was
// found and what is accepted; a password in a found URL is never shown.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { closestName } from './did-you-mean.js';

type Table = Record<string, { env: string }>;

export const ENV_PREFIX = 'APPROVAL_CDC_';

/** The known settings of a config file, and every problem found reading it. */
export function readConfigFile(
  file: string,
  table: Table,
): { values: Record<string, unknown>; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { values: {}, problems: [`cannot read config file ${file}: ${(error as Error).message}`] };
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    return {
      values: {},
      problems: doc.errors.map((e) => {
        const at = e.linePos?.[0];
        return `${file}${at ? `:${at.line}:${at.col}` : ''}: invalid YAML (${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')})`;
      }),
    };
  }
  const parsed: unknown = doc.toJS();
  if (parsed === null || parsed === undefined) return { values: {}, problems: [] };
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    return {
      values: {},
      problems: [
        `${file}: found ${Array.isArray(parsed) ? 'a list' : 'a scalar'}; accepted a map of settings (key: value)`,
      ],
    };
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  const keys = Object.keys(table);
  const byEnv = new Map(Object.entries(table).map(([k, v]) => [v.env, k]));
  for (const [key, value] of Object.entries(parsed)) {
    if (key in table) {
      values[key] = value;
      continue;
    }
    const meant = byEnv.get(key) ?? closestName(key, keys);
    problems.push(`${file}: unknown key "${key}"${meant ? ` (did you mean "${meant}"?)` : ''}`);
  }
  return { values, problems };
}

export const settingProblems = {
  /** Every APPROVAL_CDC_* variable that names no setting: a typo would otherwise be ignored. */
  unknownVariables(env: Record<string, string | undefined>, table: Table): string[] {
    const known = Object.values(table).map((v) => v.env);
    return Object.keys(env)
      .filter((name) => name.startsWith(ENV_PREFIX) && !known.includes(name))
      .sort()
      .map((name) => {
        const meant = closestName(name, known);
        return `unknown variable ${name}${meant ? ` (did you mean ${meant}?)` : ''}`;
      });
  },

  /** "<where>: found <value>; accepted <what>". */
  badValue(
    key: string,
    env: string | undefined,
    origin: string | undefined,
    value: unknown,
    accepts: string,
  ): string {
    const where = origin ?? env ?? key;
    const found = value === undefined ? 'nothing (it is required)' : JSON.stringify(redactPassword(value));
    return `${where}: found ${found}; accepted ${accepts}`;
  },

  unknownSetting(key: string, table: Table): string {
    const meant = closestName(key, Object.keys(table));
    return `unknown setting "${key}"${meant ? ` (did you mean "${meant}"?)` : ''}`;
  },
};

function redactPassword(value: unknown): unknown {
  return typeof value === 'string' ? value.replace(/(\/\/[^:/@\s]+:)[^@\s]*@/, '$1***@') : value;
}
