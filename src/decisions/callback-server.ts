// The connector's only inbound surface: the quick-approval callback endpoint, on its own listen
// address and path (off unless configured). Invariants: only POST on the configured path is served
// (everything else 404/405); a body beyond the size limit is refused with 413 before it is parsed; a
// bad token is answered 401 and writes nothing; the answer comes after at most one durable insert,
// well within Feishu's 10 s (5 s on older Lark) limit, and a slow intake is cut off with 503 first.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorKind, LogThrottle } from '../core/log-throttle.js';
import type { Logger } from '../core/logger.js';
import { parseCallback } from './callback-request.js';
import { refusal, type CallbackAnswer, type DecisionIntake } from './decision-intake.js';

export interface CallbackServerOptions {
  /** host:port to listen on. */
  address: string;
  path: string;
  token: string;
  encryptKey?: string;
  maxBytes: number;
  /** Answer 503 when the intake takes longer than this (Feishu gives up at 5-10 s). */
  answerWithinMs?: number;
  intake: DecisionIntake;
  logger: Logger;
  onAnswer?: (status: number) => void;
}

export interface CallbackServer {
  readonly url: string;
  close(): Promise<void>;
}

class TooLarge extends Error {}

async function readLimited(req: IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new TooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new TooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startCallbackServer(o: CallbackServerOptions): Promise<CallbackServer> {
  const answerWithin = o.answerWithinMs ?? 4000;
  // A flood of refusals (a scanner, a rotated token) is one line and a count a minute per kind.
  const refusals = new LogThrottle(o.logger);
  const server: Server = createServer((req, res) => {
    const send = (a: CallbackAnswer) => {
      o.onAnswer?.(a.status);
      if (res.headersSent || res.destroyed) return;
      res.writeHead(a.status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      res.end(JSON.stringify(a.body));
    };
    const path = new URL(req.url ?? '/', 'http://callback').pathname;
    if (path !== o.path) {
      req.resume();
      send(refusal(404, 'not found'));
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      send(refusal(405, 'method not allowed'));
      return;
    }
    void (async () => {
      let raw: string;
      try {
        raw = await readLimited(req, o.maxBytes);
      } catch (error) {
        send(
          error instanceof TooLarge
            ? refusal(413, 'request body too large')
            : refusal(400, 'unreadable body'),
        );
        req.destroy();
        return;
      }
      const parsed = parseCallback(raw, {
        token: o.token,
        ...(o.encryptKey ? { encryptKey: o.encryptKey } : {}),
      });
      if (!parsed.ok) {
        refusals.warn(
          { code: `HTTP_${parsed.status}`, reason: parsed.message },
          { status: parsed.status },
          `callback refused: ${parsed.message}`,
        );
        send(refusal(parsed.status, parsed.message));
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<CallbackAnswer>((resolve) => {
        timer = setTimeout(
          () => resolve(refusal(503, '处理超时，请稍后重试 (busy, try again)')),
          answerWithin,
        );
      });
      try {
        send(await Promise.race([o.intake.take(parsed.fields), late]));
      } catch (error) {
        refusals.error(errorKind(error), { err: error }, 'callback intake failed');
        send(refusal(503, '暂时无法处理，请稍后重试 (try again later)'));
      } finally {
        clearTimeout(timer);
      }
    })();
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  const [host, portText] = splitAddress(o.address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portText), host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}${o.path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        // Counted refusals are written at the stop, not lost.
        refusals.flush();
      }),
  };
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  return i < 0
    ? ['127.0.0.1', address]
    : [address.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1', address.slice(i + 1)];
}
