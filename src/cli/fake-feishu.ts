// `approval-cdc fake-feishu`: runs the fake Feishu Open API as its own process, for demos and for
// fault drills driven over its /_fake/ endpoints.
// Invariant: prints exactly one line (JSON: url and credentials) once it listens, and returns only
// after SIGINT or SIGTERM closed the server.
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { startFakeFeishu } from '../feishu/fake/fake-feishu.js';

export const FAKE_FEISHU_USAGE = `Usage: approval-cdc fake-feishu [options]

Runs a fake of the Feishu Open API (token, external approvals and instances, check, contact ids)
on 127.0.0.1, for the demo, docker-compose and tests. Prints one JSON line {url, appId, appSecret}
once it listens; stops on SIGINT/SIGTERM. Point the connector at it with APPROVAL_CDC_FEISHU_URL,
_FEISHU_APP_ID and _FEISHU_APP_SECRET. It keeps everything in memory.

Options:
  --port <n>                 port to listen on (default 8787; 0 picks a free one)
  --host <address>           address to bind (default 127.0.0.1)
  --app-id <id>              the app id it accepts (default cli_fake_app)
  --app-secret <secret>      the app secret it accepts (default fake_secret)
  --approval-code <code>     an approval definition that exists from the start (repeatable); an
                             instance of any other code is refused with 1390001 like Feishu does
  --any-approval-code        accept instances of every approval code
  --per-second <n>           external_instances calls per second before a 429 (default 50)
  --per-minute <n>           calls per minute before a 429 (default 1000)
  --token-ttl <s>            tenant_access_token lifetime in seconds (default 7200)
  --monthly-quota <n>        counted calls per month before 99991403 (default: none)
  --directory <file>         JSON array of the tenant's users, for contact batch_get_id
  --group <code=@i18n@name>  an approval group that exists from the start (repeatable)
  -h, --help                 print this help

Inspect or break it over HTTP: GET /_fake/instances, /_fake/pushes, /_fake/counters;
POST /_fake/faults (e.g. {"latencyMs": 5000}), POST /_fake/reset.
`;

export async function runFakeFeishu(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', default: '8787' },
        host: { type: 'string', default: '127.0.0.1' },
        'app-id': { type: 'string' },
        'app-secret': { type: 'string' },
        'per-second': { type: 'string' },
        'per-minute': { type: 'string' },
        'token-ttl': { type: 'string' },
        'approval-code': { type: 'string', multiple: true },
        'any-approval-code': { type: 'boolean', default: false },
        directory: { type: 'string' },
        group: { type: 'string', multiple: true },
        'monthly-quota': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(
      `fake-feishu: ${err instanceof Error ? err.message : String(err)} (see approval-cdc fake-feishu --help)\n`,
    );
    return 2;
  }
  if (values.help) {
    process.stdout.write(FAKE_FEISHU_USAGE);
    return 0;
  }
  const numbers: Record<string, number | undefined> = {};
  for (const name of ['port', 'per-second', 'per-minute', 'token-ttl', 'monthly-quota'] as const) {
    const raw = values[name];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) {
      process.stderr.write(`fake-feishu: --${name} must be a non-negative integer, got ${raw}\n`);
      return 2;
    }
    numbers[name] = n;
  }

  const fake = await startFakeFeishu({
    host: values.host,
    ...(numbers.port === undefined ? {} : { port: numbers.port }),
    ...(values['app-id'] === undefined ? {} : { appId: values['app-id'] }),
    ...(values['app-secret'] === undefined ? {} : { appSecret: values['app-secret'] }),
    ...(numbers['per-second'] === undefined ? {} : { perSecond: numbers['per-second'] }),
    ...(numbers['per-minute'] === undefined ? {} : { perMinute: numbers['per-minute'] }),
    ...(numbers['token-ttl'] === undefined ? {} : { tokenTtlSeconds: numbers['token-ttl'] }),
    approvalCodes: values['any-approval-code'] ? '*' : (values['approval-code'] ?? []),
    ...(values.directory === undefined ? {} : { directoryFile: values.directory }),
    // --group code=@i18n@name: a group that exists before the first definition.
    groups: Object.fromEntries(
      (values.group ?? []).map((g) => [g.split('=')[0] ?? g, g.split('=')[1] ?? '']),
    ),
    ...(numbers['monthly-quota'] === undefined ? {} : { faults: { monthlyQuota: numbers['monthly-quota'] } }),
  });
  // The fake's secret is not a secret; printing it lets a demo script pick the credentials up.
  process.stdout.write(
    `${JSON.stringify({ url: fake.url, appId: fake.appId, appSecret: fake.appSecret })}\n`,
  );

  const stop = new AbortController();
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const onSignal = (): void => stop.abort();
  for (const s of signals) process.once(s, onSignal);
  try {
    await once(stop.signal, 'abort');
  } finally {
    for (const s of signals) process.off(s, onSignal);
    await fake.close();
  }
  return 0;
}
