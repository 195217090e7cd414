// A loopback TCP proxy the fault suite controls: 127.0.0.1:<port> forwards to a target port, and
// cut() destroys every connection and refuses new ones (for a while, or until restore()). Used to
// put a network fault between the connector and Postgres without touching either.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Rewrites a Postgres URL so that it goes through the proxy. */
  via(url: string): string;
  /** Destroys all connections; new ones are refused until restore() (or after `seconds`, if given). */
  cut(seconds?: number): void;
  restore(): void;
  readonly isCut: boolean;
  /** Connections accepted, destroyed by cut(), and refused while cut. */
  readonly stats: { accepted: number; destroyed: number; refused: number; cuts: number };
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const stats = { accepted: 0, destroyed: 0, refused: 0, cuts: 0 };
  let cutUntil = 0;
  let restoreTimer: NodeJS.Timeout | null = null;
  const isCut = () => cutUntil > Date.now();

  const server: Server = createServer((client) => {
    if (isCut()) {
      stats.refused++;
      client.destroy();
      return;
    }
    stats.accepted++;
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const proxy: TcpProxy = {
    port,
    via(url: string) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut(seconds?: number) {
      stats.cuts++;
      cutUntil = seconds === undefined ? Number.MAX_SAFE_INTEGER : Date.now() + seconds * 1000;
      if (restoreTimer) clearTimeout(restoreTimer);
      restoreTimer = null;
      for (const s of sockets) {
        stats.destroyed++;
        // resetAndDestroy sends RST like a broken network path does, not a polite FIN.
        s.resetAndDestroy();
      }
      sockets.clear();
    },
    restore() {
      cutUntil = 0;
      if (restoreTimer) clearTimeout(restoreTimer);
      restoreTimer = null;
    },
    get isCut() {
      return isCut();
    },
    stats,
    async close() {
      proxy.restore();
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
