// `approval-cdc fake-feishu`: runs the fake Feishu Open API as its own process, for demos and for
// fault drills driven over its /_fake/ endpoints.
// Invariant: prints exactly one line (JSON: url and credentials) once it listens, and returns only
// after SIGINT or SIGTERM closed the server.
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { startFakeFeishu } from '../feishu/fake/fake-feishu.js';

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
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`fake-feishu: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
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
