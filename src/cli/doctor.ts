// `approval-cdc doctor [--json]`: checks the legacy server, mapped tables, publication, slot, state
// database and Feishu app, one line per finding with the fix under it. Exit 1 when any finding is an
// error, else 0 (warnings do not fail it: they are advice, not breakage).
import type { Settings } from '../config/settings.js';
import { describeError } from '../errors.js';
import type { MappingSet } from '../mapping/contract.js';
import { doctorExitCode, runDoctorChecks, type Finding } from '../ops/doctor-checks.js';
import { commandContext, mappingsOf, type GlobalFlags } from './context.js';

export async function doctorCommand(flags: GlobalFlags & { json?: boolean }): Promise<number> {
  const { settings, logger } = commandContext(flags);
  let mappings: MappingSet | { error: string };
  try {
    mappings = await mappingsOf(settings);
  } catch (error) {
    mappings = { error: describeError(error) };
  }
  try {
    return await doctor(settings, mappings, {
      json: flags.json === true,
      write: (text) => process.stdout.write(text),
    });
  } finally {
    logger.flush();
  }
}

/** Runs every check, writes the findings, and returns the exit code. */
export async function doctor(
  settings: Settings,
  mappings: MappingSet | { error: string },
  out: { json: boolean; write(text: string): void },
): Promise<number> {
  const findings = await runDoctorChecks({ settings, mappings });
  const code = doctorExitCode(findings);
  out.write(out.json ? `${JSON.stringify({ ok: code === 0, findings })}\n` : renderFindings(findings));
  return code;
}

const GLYPH = { error: '✗', warn: '!', info: '·' } as const;

export function renderFindings(findings: readonly Finding[]): string {
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${f.ok ? '✓' : GLYPH[f.severity]} ${f.id}: ${f.finding}`);
    if (!f.ok && f.fix) lines.push(`    fix: ${f.fix}`);
  }
  const errors = findings.filter((f) => !f.ok && f.severity === 'error').length;
  const warnings = findings.filter((f) => !f.ok && f.severity === 'warn').length;
  lines.push(
    errors === 0
      ? `no errors${warnings > 0 ? `, ${warnings} warning(s)` : ''}`
      : `${errors} error(s), ${warnings} warning(s)`,
  );
  return `${lines.join('\n')}\n`;
}
