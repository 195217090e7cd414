// The CLI: parses arguments, calls a command, exits with its code. No logic lives here.
import { Command, InvalidArgumentError, Option } from 'commander';
import { describeSettings } from '../config/settings.js';
import { describeError } from '../errors.js';
import { decisionsCommand } from './decisions.js';
import { EXIT, toExitCode } from './exit-codes.js';
import { demoCommand } from './demo.js';
import { doctorCommand } from './doctor.js';
import { runFakeFeishu } from './fake-feishu.js';
import { mappingsCheckCommand, mappingsPreviewCommand } from './mappings.js';
import { registerOnboardCommands } from './onboard-commands.js';
import { DEFAULT_PARKED_LIMIT, parkedCommand, type ParkedFlags } from './parked.js';
import { resyncCommand } from './resync.js';
import { runCommand } from './run.js';
import { setupCommand } from './setup.js';
import { statusCommand } from './status.js';
import { teardownCommand } from './teardown.js';

const program = new Command('approval-cdc')
  .description("Mirror a legacy approval system's Postgres into Feishu third-party approvals")
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
  .option(
    '--resnapshot',
    'drop the slot if any and copy everything again (recovers a lost slot without a gap)',
  )
  .action(async (opts: { resnapshot?: boolean }) => {
    exitCode = await setupCommand({ ...globals(), ...opts });
  });

program
  .command('status')
  .description(
    'lag, backlog by lane, parked instances and last errors (works whether or not the daemon runs)',
  )
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    exitCode = await statusCommand({ ...globals(), ...opts });
  });

program
  .command('doctor')
  .description(
    'check the source server, mapped tables, publication, slot, state database and Feishu app; exit 1 on errors',
  )
  .option('--json', 'print the findings as one JSON object')
  .action(async (opts: { json?: boolean }) => {
    exitCode = await doctorCommand({ ...globals(), ...opts });
  });

program
  .command('teardown')
  .description("drop the replication slot and publication (an abandoned slot fills the legacy server's disk)")
  .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
  .option('--drop-state', 'also drop the state schema (replica, instance sync state, checkpoint)')
  .option(
    '--force',
    'drop the slot even when the state database cannot be reached to check that no connector runs',
  )
  .action(async (opts: { yes?: boolean; dropState?: boolean; force?: boolean }) => {
    exitCode = await teardownCommand({ ...globals(), ...opts });
  });

program
  .command('parked')
  .description('parked instances: list, retry (un-park now) or drop (give up on their current version)')
  .argument('<action>', 'list | retry | drop')
  .argument('[ids...]', 'external instance ids (or --all)')
  .option('--all', 'every parked instance')
  .option('-y, --yes', 'confirm drop')
  .option('--json', 'list as JSON')
  .option(
    '--limit <n>',
    `list at most n entries, oldest first (0 for all; default ${DEFAULT_PARKED_LIMIT}); a cut list says so`,
  )
  .addOption(new Option('--by <what>', 'list groups with counts instead of instances').choices(['reason']))
  .action(async (action: string, ids: string[], opts: ParkedFlags & { limit?: string }) => {
    if (action !== 'list' && action !== 'retry' && action !== 'drop') {
      process.stderr.write(`parked: unknown action ${action} (list | retry | drop)\n`);
      exitCode = EXIT.config;
      return;
    }
    const limit = opts.limit === undefined ? undefined : Number(opts.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      process.stderr.write(`parked: --limit ${opts.limit} is not a whole number >= 0 (0 lists all)\n`);
      exitCode = EXIT.config;
      return;
    }
    exitCode = await parkedCommand(action, ids, {
      ...globals(),
      ...opts,
      ...(limit === undefined ? {} : { limit }),
    });
  });

program
  .command('decisions')
  .description('decisions taken in Feishu (quick approval): list them, or retry parked ones')
  .argument('<action>', 'list | retry')
  .argument('[ids...]', 'decision ids to retry (#n from list), or --all')
  .option('--all', 'every parked decision')
  .option('--state <states>', 'list only these states: received, applied, refused, parked (comma-separated)')
  .option('--json', 'list as JSON')
  .action(async (action: string, ids: string[], opts: { all?: boolean; json?: boolean; state?: string }) => {
    if (action !== 'list' && action !== 'retry') {
      process.stderr.write(`decisions: unknown action ${action} (list | retry)\n`);
      exitCode = EXIT.config;
      return;
    }
    exitCode = await decisionsCommand(action, ids, { ...globals(), ...opts });
  });

program
  .command('resync')
  .description(
    'push instances again from the replica (after a mapping change), in the backfill lane: all, those of a mapping, those matching --where, or the instance ids given',
  )
  .argument(
    '[instance-ids...]',
    'instance ids as Feishu knows them (e.g. oa-req-42); alone, without --table/--where',
  )
  .option('--mapping <name>', 'only instances of this mapping')
  .option(
    '--table <schema.table>',
    "select through rows of this mapped table (default: each mapping's instance table)",
  )
  .option(
    '--where <condition>',
    "a condition over the table's columns, no SQL: = <> < <= > >= in, is null, and/or/not, e.g. \"status_code = '1'\" or a filter \"{status_code: '1'}\"",
  )
  .option('--dry-run', 'list what would be pushed, change nothing')
  .option('--limit <n>', 'with --dry-run: how many ids to list (default 20)', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
    return n;
  })
  .action(
    async (
      ids: string[],
      opts: { mapping?: string; table?: string; where?: string; dryRun?: boolean; limit?: number },
    ) => {
      exitCode = await resyncCommand({ ...globals(), ...opts, ids });
    },
  );

const mappingsGroup = program
  .command('mappings')
  .description('validate mapping files, preview the payload of one instance');

mappingsGroup
  .command('check')
  .description(
    'validate mapping files offline (default: the configured mappings); exit 1 listing every problem',
  )
  .argument('[files...]', 'mapping files or directories')
  .action(async (files: string[]) => {
    exitCode = await mappingsCheckCommand({ ...globals(), files });
  });

mappingsGroup
  .command('preview')
  .description(
    'print the exact payload the connector would push for one instance (from the replica, or --live)',
  )
  .argument(
    '<instance>',
    'external instance id (e.g. oa-req-101), or with --mapping the key values (comma-separated)',
  )
  .option('--mapping <name>', 'read <instance> as the key values of an instance of this mapping')
  .option('--live', 'read the rows from the live source database instead of the replica (works before setup)')
  .action(async (instance: string, opts: { mapping?: string; live?: boolean }) => {
    exitCode = await mappingsPreviewCommand({ ...globals(), ...opts, instance });
  });

registerOnboardCommands(program, globals, (code) => {
  exitCode = code;
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

program
  .command('demo')
  .description(
    'run everything locally: throwaway Postgres, fake Feishu, the connector and a live workload, with a live view',
  )
  .option('--seconds <n>', 'stop after this many seconds of running (default: until Ctrl-C)')
  .option('--rate <tx_per_sec>', 'legacy transactions per second of the workload', '5')
  .action(async (opts: { seconds?: string; rate?: string }) => {
    exitCode = await demoCommand({ ...globals(), ...opts });
  });

// A closed pipe (`parked list | head -1`, `demo | tee` ended) is not an error: a long-running command
// stops as on SIGTERM (the demo still removes its Postgres), any other exits quietly at once.
let outputClosed = false;
const onOutputError = (error: NodeJS.ErrnoException): void => {
  if (outputClosed) return;
  if (error.code !== 'EPIPE') throw error;
  outputClosed = true;
  if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM');
  else process.exit(exitCode);
};
process.stdout.on('error', onOutputError);
process.stderr.on('error', onOutputError);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`${describeError(error)}\n`);
  exitCode = toExitCode(error);
}
// Exit as soon as the command has printed: a timer or idle connection left behind by a library
// must never keep a finished command (or a stopped daemon) alive.
const drained = (stream: NodeJS.WriteStream) =>
  new Promise<void>((resolve) => (outputClosed ? resolve() : stream.write('', () => resolve())));
await Promise.all([drained(process.stdout), drained(process.stderr)]);
process.exit(exitCode);
