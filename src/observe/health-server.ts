// Serves /metrics (Prometheus), /healthz (the process is alive) and /readyz (streaming, state database
// reachable, Feishu token valid), and hands every other request to `extra` (the console) when given.
// Invariant: it only reads; a probe never changes connector state.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Metrics } from './metrics.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean | string>;
}

export async function startHealthServer(
  address: string,
  metrics: Metrics,
  readiness: () => Promise<Readiness>,
  /** Answers other paths; resolves false when the path is not its own (404). */
  extra?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>,
): Promise<Server> {
  const [host, portText] = splitAddress(address);
  const server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.url === '/metrics') {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(await metrics.registry.metrics());
        } else if (req.url === '/healthz') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"ok":true}');
        } else if (req.url === '/readyz') {
          const r = await readiness();
          res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify(r));
        } else if (!(extra && (await extra(req, res)))) {
          res.writeHead(404).end();
        }
      } catch (error) {
        res.writeHead(500).end(String(error));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portText), host, () => resolve());
  });
  return server;
}

export function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  return i < 0 ? ['127.0.0.1', address] : [address.slice(0, i) || '127.0.0.1', address.slice(i + 1)];
}
