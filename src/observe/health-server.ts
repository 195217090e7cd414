// Serves /metrics (Prometheus), /healthz (the process is alive) and /readyz (streaming, state database
// reachable, Feishu token valid), and hands every other request to `extra` (the console) when given.
// Invariant: it only reads; a probe never changes connector state.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { formatListenAddress, parseListenAddress } from '../config/listen-address.js';
import { CdcError } from '../errors.js';
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
  const parsed = parseListenAddress(address);
  if (!parsed) throw new CdcError('CONFIG_INVALID', `not a listen address: ${address}`);
  const { host, port } = parsed;
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
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new CdcError(
              'CONFIG_INVALID',
              `APPROVAL_CDC_METRICS_ADDRESS ${formatListenAddress(parsed)} is already in use (another connector on this host? a standby on the same host needs its own APPROVAL_CDC_METRICS_ADDRESS, or "off")`,
              { cause: error },
            )
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}
