// Owns logging: pino JSON lines with secrets redacted. Invariant: app secrets, tokens, passwords and
// Authorization headers never reach a log line, whatever object a caller logs.
import { redactPostgresUrls } from './redact-url.js';
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'appSecret',
  'app_secret',
  'feishuAppSecret',
  'adminToken',
  'token',
  'tenant_access_token',
  'authorization',
  'password',
  '*.appSecret',
  '*.app_secret',
  '*.feishuAppSecret',
  '*.adminToken',
  '*.token',
  '*.tenant_access_token',
  '*.authorization',
  '*.password',
  'headers.authorization',
  '*.headers.authorization',
];

/** Replaces the password of any postgres URL inside a string. */
export function redactUrls(text: string): string {
  return redactPostgresUrls(text);
}

export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream): Logger {
  const target = destination ?? stderrDestination();
  return pino(
    {
      level,
      base: { svc: 'approval-cdc' },
      redact: { paths: REDACT, censor: '***' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        logMethod(args, method) {
          const redacted = args.map((a) => (typeof a === 'string' ? redactUrls(a) : a)) as typeof args;
          method.apply(this, redacted);
        },
      },
      serializers: { err: (err: unknown) => serializeError(err) },
    },
    target,
  );
}

/** Asynchronous stderr; a closed pipe (`run 2>&1 | head`) drops log lines instead of crashing. */
function stderrDestination(): ReturnType<typeof pino.destination> {
  const dest = pino.destination({ fd: 2, sync: false });
  dest.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') process.stderr.write(`log write failed: ${error.message}\n`);
  });
  return dest;
}

function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out: Record<string, unknown> = { type: err.name, message: redactUrls(err.message) };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (err.cause !== undefined) out.cause = serializeError(err.cause);
  return out;
}
