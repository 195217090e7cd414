import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import { freePort } from '../../src/demo/throwaway-postgres.js';
import { isCdcError } from '../../src/errors.js';
import { createMetrics } from '../../src/observe/metrics.js';
import { startHealthServer } from '../../src/observe/health-server.js';

describe('the health server', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  it('names the setting and the standby case when its address is taken (not a bare EADDRINUSE)', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const ready = async () => ({ ready: true, checks: {} });
    servers.push(await startHealthServer(address, createMetrics(), ready));
    const second = await startHealthServer(address, createMetrics(), ready).catch((e: unknown) => e);
    expect(isCdcError(second, 'CONFIG_INVALID')).toBe(true);
    expect((second as Error).message).toContain(`APPROVAL_CDC_METRICS_ADDRESS ${address} is already in use`);
    expect((second as Error).message).toContain('a standby on the same host needs its own');
  });
});
