// Serves /metrics, /healthz and /readyz on APPROVAL_CDC_METRICS_ADDRESS and, when the console is on,
// the operator console on the same server. Invariant: nothing listens when the address is `off`; the
// console is served only with the compiled mappings (it shows their names, keys and previews).
import type { Server } from 'node:http';
import type { Kysely } from 'kysely';
import type { Settings } from './config/settings.js';
import { parseListenAddress } from './config/listen-address.js';
import type { Logger } from './core/logger.js';
import { createConsole } from './console/console-server.js';
import type { MappingSet } from './mapping/contract.js';
import { CompiledMappingSet } from './mapping/mapping-set.js';
import { startHealthServer, type Readiness } from './observe/health-server.js';
import type { Metrics } from './observe/metrics.js';
import type { SampleRing } from './observe/sample-ring.js';
import type { StateDb } from './replica/state-schema.js';

export interface HttpWiring {
  settings: Settings;
  mappings: MappingSet;
  db: Kysely<StateDb>;
  metrics: Metrics;
  samples: SampleRing;
  readiness: () => Promise<Readiness>;
  logger: Logger;
  /** A console action changed sync state: the sync stage looks for due instances at once. */
  wake: () => void;
}

/** The server, or null when the address is `off`. */
export async function startHttp(w: HttpWiring): Promise<Server | null> {
  const { settings: s, mappings, logger } = w;
  if (s.metricsAddress === 'off') return null;
  // A test's stand-in mapping set is not compiled: such a connector serves no console.
  const consoleHandler =
    s.console && mappings instanceof CompiledMappingSet
      ? createConsole({
          settings: s,
          mappings,
          db: w.db,
          metrics: w.metrics,
          samples: w.samples,
          readiness: w.readiness,
          logger,
          onChange: w.wake,
          listenHost: parseListenAddress(s.metricsAddress)?.host ?? '127.0.0.1',
        })
      : undefined;
  const server = await startHealthServer(s.metricsAddress, w.metrics, w.readiness, consoleHandler);
  const bound = server.address();
  const url =
    bound && typeof bound === 'object'
      ? `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
      : s.metricsAddress;
  logger.info(
    { url },
    `serving /metrics, /healthz and /readyz on ${url}${consoleHandler ? `, the console on ${url}/console/` : ''}`,
  );
  return server;
}
