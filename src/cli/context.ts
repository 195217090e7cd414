// Shared edge of every command: settings from --config, the environment and flags, parsed once and
// frozen; the logger; the mappings. Commands receive these and nothing reads process.env deeper.
import { loadSettings, type Settings } from '../config/settings.js';
import { loadMappings } from '../mapping/mapping-loader.js';
import type { MappingSet } from '../mapping/contract.js';
import { createLogger, type Logger } from '../core/logger.js';

export interface GlobalFlags {
  config?: string;
  mappings?: string;
  logLevel?: string;
}

export interface CommandContext {
  settings: Settings;
  logger: Logger;
}

export function commandContext(flags: GlobalFlags, overrides: Record<string, unknown> = {}): CommandContext {
  const settings = loadSettings({
    env: process.env,
    ...(flags.config ? { file: flags.config } : {}),
    overrides: { mappings: flags.mappings, logLevel: flags.logLevel, ...overrides },
  });
  return { settings, logger: createLogger(settings.logLevel) };
}

export async function mappingsOf(settings: Settings): Promise<MappingSet> {
  return await Promise.resolve(loadMappings(settings.mappings));
}
