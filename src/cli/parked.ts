// `approval-cdc parked list [--by reason] [--limit n] | retry <ids…>|--all | drop <ids…>|--all --yes`:
// parked instances, their reason, attempts and last error; retry un-parks them now; drop gives up on
// their current version. Invariants: a list cut at --limit says so (never a silent cut), and an id
// that names no parked instance is reported and makes the command exit non-zero (EXIT.notFound).
import { describeError } from '../errors.js';
import { migrateStateDb } from '../replica/state-db.js';
import { openStateOf } from '../replica/state-store.js';
import { InstanceTable } from '../replica/instance-table.js';
import { InstanceViews } from '../replica/instance-views.js';
import { commandContext, type GlobalFlags } from './context.js';
import { EXIT } from './exit-codes.js';

export type ParkedAction = 'list' | 'retry' | 'drop';

export const DEFAULT_PARKED_LIMIT = 1000;

export interface ParkedFlags extends GlobalFlags {
  all?: boolean;
  yes?: boolean;
  json?: boolean;
  /** Entries (or groups with --by) to print; 0 for all. */
  limit?: number;
  by?: 'reason';
}

export async function parkedCommand(
  action: ParkedAction,
  ids: string[],
  flags: ParkedFlags,
): Promise<number> {
  const { settings, logger } = commandContext(flags);
  let state: Awaited<ReturnType<typeof openStateOf>> | undefined;
  try {
    state = await openStateOf(settings, { max: 2, logger });
    await migrateStateDb(state);
    const store = new InstanceTable(state.db, settings.stateSchema);
    const views = new InstanceViews(state.db, settings.stateSchema);
    if (action === 'list') return await list(views, flags);
    const target = flags.all ? 'all' : ids;
    if (target !== 'all' && target.length === 0) {
      process.stderr.write(`parked ${action}: name instance ids or pass --all\n`);
      return EXIT.config;
    }
    if (action === 'drop' && !flags.yes) {
      process.stderr.write(
        'parked drop marks the current version of these instances as synced without pushing it; pass --yes to confirm\n',
      );
      return EXIT.config;
    }
    // Named ids that are not parked: a typo must not pass as "0 retried" with exit 0.
    const missing: string[] = [];
    if (target !== 'all') {
      const states = await views.parkedStateOf(target);
      for (const id of new Set(target)) {
        const parked = states.get(id);
        if (parked === undefined) missing.push(`${id}: no such instance`);
        else if (!parked) missing.push(`${id}: not parked`);
      }
    }
    const n = action === 'retry' ? await store.retryParked(target) : await store.dropParked(target);
    process.stdout.write(`${n} parked instances ${action === 'retry' ? 'will be tried again' : 'dropped'}\n`);
    if (missing.length > 0) {
      process.stderr.write(
        `parked ${action}: ${missing.length} of the ids named no parked instance (external ids, as \`parked list\` prints them):\n${missing.map((m) => `  ${m}\n`).join('')}`,
      );
      return EXIT.notFound;
    }
    return EXIT.ok;
  } catch (error) {
    process.stderr.write(`parked ${action} failed: ${describeError(error)}\n`);
    return EXIT.failure;
  } finally {
    await state?.close();
    logger.flush();
  }
}

async function list(store: InstanceViews, flags: ParkedFlags): Promise<number> {
  const limit = flags.limit === 0 ? Number.MAX_SAFE_INTEGER : (flags.limit ?? DEFAULT_PARKED_LIMIT);
  if (flags.by === 'reason') {
    const groups = await store.parkedGroups(limit);
    if (flags.json) process.stdout.write(`${JSON.stringify(groups)}\n`);
    else if (groups.length === 0) process.stdout.write('no parked instances\n');
    else {
      const total = groups.reduce((sum, g) => sum + g.count, 0);
      process.stdout.write(
        `${total} parked instances in ${groups.length} groups (digits as #, quoted text as "…"):\n`,
      );
      for (const g of groups) {
        process.stdout.write(
          `${String(g.count).padStart(7)}  ${g.code || '-'}  ${g.reasonClass}\n         oldest ${g.oldest.toISOString()}, e.g. ${g.example}\n`,
        );
      }
    }
    return EXIT.ok;
  }
  // One more than asked tells whether the list was cut.
  const rows = await store.listParked(limit === Number.MAX_SAFE_INTEGER ? limit : limit + 1);
  const parked = rows.slice(0, limit);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(parked)}\n`);
  } else if (parked.length === 0) {
    process.stdout.write('no parked instances\n');
  } else {
    for (const p of parked) {
      process.stdout.write(
        `${p.externalId}  mapping=${p.mapping}  attempts=${p.attempts}  since=${p.parkedAt.toISOString()}\n    ${p.reason}\n`,
      );
    }
  }
  if (rows.length > limit) {
    const total = await store.countParked();
    process.stderr.write(
      `showing the oldest ${limit} of ${total} parked instances; pass --limit <n> (0 for all), or --by reason for the groups with counts\n`,
    );
  }
  return EXIT.ok;
}
