// The CLI: parses arguments, calls a command, exits with its code. No logic lives here.
import { Command } from 'commander';
import { describeSettings } from '../config/settings.js';
import { describeError } from '../errors.js';
import { doctorCommand } from './doctor.js';
import { runFakeFeishu } from './fake-feishu.js';
import { runCommand } from './run.js';
import { setupCommand } from './setup.js';
import { statusCommand } from './status.js';
import { teardownCommand } from './teardown.js';

const program = new Command('approval-cdc')
  .description('Mirror a legacy approval system\'s Postgres into Feishu third-party approvals')
  .option('-c, --config <file>', 'settings file (YAML or JSON, keys as in the table below)')
  .option('-m, --mappings <path>', 'mapping file or directory (overrides APPROVAL_CDC_MAPPINGS)')
  .option('--log-level <level>', 'log level (overrides APPROVAL_CDC_LOG_LEVEL)')
  .addHelpText('after', `\nSettings (environment variable, config key, default):\n${describeSettings()}\n`);

let exitCode = 0;
const globals = () => program.opts<{ config?: string; mappings?: string; logLevel?: string }>();

program
  .command('run')
  .description('run the connector: stream, replicate, push (sets up slot and snapshot on first start)')
  .action(async () => {
    exitCode = await runCommand(globals());
  });

program
  .command('setup')
  .description('create the state schema, publication and slot, and copy the mapped tables')
  .option('--resnapshot', 'drop the slot if any and copy everything again (recovers a lost slot without a gap)')
  .action(async (opts: { resnapshot?: boolean }) => {
    exitCode = await setupCommand({ ...globals(), ...opts });
  });

program
  .command('status')
  .description('lag, backlog by lane, parked instances and last errors (works whether or not the daemon runs)')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    exitCode = await statusCommand({ ...globals(), ...opts });
  });

program
  .command('doctor')
  .description('check the source server, mapped tables, publication, slot, state database and Feishu app; exit 1 on errors')
  .option('--json', 'print the findings as one JSON object')
  .action(async (opts: { json?: boolean }) => {
    exitCode = await doctorCommand({ ...globals(), ...opts });
  });

program
  .command('teardown')
  .description('drop the replication slot and publication (an abandoned slot fills the legacy server\'s disk)')
  .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
  .option('--drop-state', 'also drop the state schema (replica, instance sync state, checkpoint)')
  .action(async (opts: { yes?: boolean; dropState?: boolean }) => {
    exitCode = await teardownCommand({ ...globals(), ...opts });
  });

program
  .command('fake-feishu')
  .description('run the local Feishu fake (for the demo, docker-compose and tests)')
  .allowUnknownOption(true)
  .helpOption(false)
  .argument('[args...]')
  .action(async (args: string[]) => {
    exitCode = await runFakeFeishu(args);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`${describeError(error)}\n`);
  exitCode = 1;
}
process.exitCode = exitCode;
