// The onboarding commands (issue 17): definitions plan|apply, users report, resume. Registered on the
// program by main.ts; each parses its options and calls its command module.
import type { Command } from 'commander';
import { definitionsCommand } from './definitions.js';
import { resumeCommand } from './resume.js';
import { usersReportCommand } from './users.js';
import type { GlobalFlags } from './context.js';

export function registerOnboardCommands(
  program: Command,
  globals: () => GlobalFlags,
  setExitCode: (code: number) => void,
): void {
  const definitions = program
    .command('definitions')
    .description('approval definitions as code (definitions.yaml beside the mappings)');
  definitions
    .command('plan')
    .description('show what apply would create or change in Feishu; writes nothing (exit 3: changes pending)')
    .option('--json', 'print the plan as JSON')
    .action(async (opts: { json?: boolean }) => {
      setExitCode(await definitionsCommand('plan', { ...globals(), ...opts }));
    });
  definitions
    .command('apply')
    .description('create or update the definitions in Feishu and remember their codes (idempotent)')
    .option('--allow-create', 'allow creating definitions (Feishu cannot delete them)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { allowCreate?: boolean; json?: boolean }) => {
      setExitCode(await definitionsCommand('apply', { ...globals(), ...opts }));
    });

  program
    .command('users')
    .description('legacy identities (emails, mobiles) and their Feishu users')
    .command('report')
    .description('list every legacy identity the mappings reference that does not resolve (exit 3 if any)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      setExitCode(await usersReportCommand({ ...globals(), ...opts }));
    });

  program
    .command('resume')
    .description('push again now: ends a monthly-quota pause (or any stop) of the running connector')
    .action(async () => {
      setExitCode(await resumeCommand(globals()));
    });
}
