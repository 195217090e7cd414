// No Docker engine here: these tests check the compose stack's files against each other and against
// the code (settings, metrics), which is where such a stack usually rots.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SETTINGS_TABLE } from '../../src/config/settings.js';
import { createMetrics } from '../../src/observe/metrics.js';

const root = resolve(import.meta.dirname, '../..');
const readYaml = (path: string): any => parse(readFileSync(join(root, path), 'utf8'));
const compose = readYaml('docker-compose.yml');
const services: Record<string, any> = compose.services;
const connectorServices = ['connector', 'connector-standby'];

interface Mount {
  host: string;
  container: string;
}

/** Bind mounts of a service (short and long syntax); named volumes are returned with host = null. */
function mounts(service: any): { binds: Mount[]; named: string[] } {
  const binds: Mount[] = [];
  const named: string[] = [];
  for (const v of service.volumes ?? []) {
    const [source, target] = typeof v === 'string' ? v.split(':') : [v.source, v.target];
    if (source.startsWith('.') || source.startsWith('/'))
      binds.push({ host: resolve(root, source), container: target });
    else named.push(source);
  }
  return { binds, named };
}

function environment(service: any): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env))
    return Object.fromEntries(env.map((e: string) => [e.split('=')[0], e.split('=').slice(1).join('=')]));
  return env;
}

/** Maps a container path through a service's bind mounts to the host path, if mounted. */
function hostPathOf(service: any, containerPath: string): string | null {
  for (const m of mounts(service).binds) {
    if (containerPath === m.container) return m.host;
    if (containerPath.startsWith(`${m.container}/`))
      return join(m.host, posix.relative(m.container, containerPath));
  }
  return null;
}

const PROMQL_WORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords or label names. */
function metricNames(expr: string): string[] {
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of cleaned.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = cleaned.slice((m.index ?? 0) + m[0].length).trimStart();
    if (rest.startsWith('(') || PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

function dashboardExpressions(dashboard: any): string[] {
  const exprs: string[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') exprs.push(t.expr);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return exprs;
}

describe('docker-compose stack', () => {
  it('parses and has the services the demo needs', () => {
    expect(Object.keys(services).sort()).toEqual([
      'connector',
      'connector-standby',
      'fake-feishu',
      'grafana',
      'postgres',
      'prometheus',
      'state',
    ]);
    expect(services.postgres.image).toBe('postgres:17');
    expect(services.postgres.command).toContain('wal_level=logical');
    expect(services.postgres.command).toContain('max_slot_wal_keep_size=10GB');
  });

  it('builds from contexts and Dockerfiles that exist', () => {
    const built = Object.entries(services).filter(([, s]) => s.build);
    expect(built.map(([name]) => name).sort()).toEqual(['connector', 'connector-standby', 'fake-feishu']);
    for (const [name, s] of built) {
      const build = typeof s.build === 'string' ? { context: s.build } : s.build;
      const context = resolve(root, build.context);
      expect(statSync(context).isDirectory(), `${name} build context`).toBe(true);
      expect(existsSync(join(context, build.dockerfile ?? 'Dockerfile')), `${name} Dockerfile`).toBe(true);
    }
  });

  it('mounts only host paths that exist, and declares its named volumes', () => {
    for (const [name, s] of Object.entries(services)) {
      const { binds, named } = mounts(s);
      for (const m of binds) expect(existsSync(m.host), `${name} mounts ${m.host}`).toBe(true);
      for (const v of named) expect(Object.keys(compose.volumes ?? {}), `${name} volume ${v}`).toContain(v);
    }
    expect(hostPathOf(services.postgres, '/docker-entrypoint-initdb.d/10-legacy-approval.sql')).toBe(
      join(root, 'examples/legacy-approval/schema.sql'),
    );
  });

  it('configures the connectors only with environment variables the settings table knows', () => {
    const known = new Set(Object.values(SETTINGS_TABLE).map((s) => s.env));
    for (const name of connectorServices) {
      const env = environment(services[name]);
      expect(Object.keys(env).length, name).toBeGreaterThan(0);
      for (const key of Object.keys(env))
        expect(known.has(key as never), `${name} sets unknown ${key}`).toBe(true);
      expect(env).toMatchObject({
        APPROVAL_CDC_FEISHU_URL: 'http://fake-feishu:8787',
        APPROVAL_CDC_FEISHU_APP_ID: 'cli_fake_app',
        APPROVAL_CDC_FEISHU_APP_SECRET: 'fake_secret',
        APPROVAL_CDC_METRICS_ADDRESS: '0.0.0.0:9187',
        APPROVAL_CDC_MAPPINGS: '/app/mappings',
      });
      expect(new URL(env.APPROVAL_CDC_SOURCE_URL ?? '').hostname).toBe('postgres');
      // A standby needs a state database both reach, on a server of its own (not the legacy one),
      // with a volume for its data.
      expect(env.APPROVAL_CDC_STANDBY).toBe('true');
      const state = new URL(env.APPROVAL_CDC_STATE_URL ?? '');
      expect(state.hostname).toBe('state');
      expect(services.state.environment.POSTGRES_DB).toBe(state.pathname.slice(1));
      expect(mounts(services.state).named).toEqual(['statedata']);
      expect(Object.keys(services[name].depends_on)).toContain('state');
    }
    // The standby must be a true twin: same slot, same state database, so it waits on the same lock.
    expect(environment(services['connector-standby'])).toEqual(environment(services.connector));
  });

  it('builds an image that runs the CLI through bin/approval-cdc.js', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    // Node flags may sit between node and the launcher (the young generation's cap, docs/operations.md).
    expect(dockerfile).toMatch(
      /^ENTRYPOINT \["node", (?:"--[a-z-]+(?:=\S+)?", )*"bin\/approval-cdc\.js"\]$/m,
    );
    // COPY --from copies out of an earlier stage (dockerfile-replay.test.ts checks those).
    for (const m of dockerfile.matchAll(/^COPY (?!--from=)(.+) \S+$/gm)) {
      for (const source of (m[1] ?? '').split(/\s+/))
        expect(existsSync(join(root, source)), `COPY ${source}`).toBe(true);
    }
    expect(services['fake-feishu'].command).toEqual([
      'fake-feishu',
      '--host',
      '0.0.0.0',
      '--port',
      '8787',
      '--any-approval-code',
    ]);
    for (const name of connectorServices) expect(services[name].command).toEqual(['run']);
  });

  it('has Prometheus scrape both connectors on their metrics port', () => {
    const promFile = hostPathOf(services.prometheus, '/etc/prometheus/prometheus.yml');
    expect(promFile).toBe(join(root, 'docker/prometheus.yml'));
    const prom = readYaml('docker/prometheus.yml');
    const targets: string[] = prom.scrape_configs.flatMap((c: any) =>
      c.static_configs.flatMap((s: any) => s.targets),
    );
    const port = environment(services.connector).APPROVAL_CDC_METRICS_ADDRESS?.split(':')[1];
    expect(targets.sort()).toEqual(connectorServices.map((s) => `${s}:${port}`).sort());
    expect(prom.scrape_configs.every((c: any) => (c.metrics_path ?? '/metrics') === '/metrics')).toBe(true);
  });

  it('provisions Grafana with the Prometheus datasource and the dashboard file', () => {
    const grafana = services.grafana;
    const provisioning = hostPathOf(grafana, '/etc/grafana/provisioning');
    expect(provisioning).toBe(join(root, 'docker/grafana/provisioning'));

    const datasources = readdirSync(join(root, 'docker/grafana/provisioning/datasources')).flatMap(
      (f) => readYaml(`docker/grafana/provisioning/datasources/${f}`).datasources,
    );
    const prometheus = datasources.find((d: any) => d.type === 'prometheus');
    expect(new URL(prometheus.url).hostname).toBe('prometheus');

    const providers = readdirSync(join(root, 'docker/grafana/provisioning/dashboards')).flatMap(
      (f) => readYaml(`docker/grafana/provisioning/dashboards/${f}`).providers,
    );
    const dashboardDirs = providers.map((p: any) => hostPathOf(grafana, p.options.path));
    expect(dashboardDirs).toContain(join(root, 'docker/grafana/dashboards'));
    expect(existsSync(join(root, 'docker/grafana/dashboards/approval-cdc.json'))).toBe(true);

    const dashboard = JSON.parse(
      readFileSync(join(root, 'docker/grafana/dashboards/approval-cdc.json'), 'utf8'),
    );
    const uids = new Set<string>();
    const walk = (node: any) => {
      if (node && typeof node === 'object') {
        if (node.datasource?.uid) uids.add(node.datasource.uid);
        for (const v of Object.values(node)) walk(v);
      }
    };
    walk(dashboard);
    expect([...uids]).toEqual([prometheus.uid]);
  });

  it('uses in its dashboard only metrics the connector registers', async () => {
    const registered = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const dashboard = JSON.parse(
      readFileSync(join(root, 'docker/grafana/dashboards/approval-cdc.json'), 'utf8'),
    );
    const used = new Set(
      dashboardExpressions(dashboard)
        .flatMap(metricNames)
        .map((n) => n.replace(/_(bucket|sum|count)$/, '')),
    );
    expect(used.size).toBeGreaterThan(10);
    expect(used).toContain('approval_cdc_commit_to_accept_seconds');
    expect([...used].filter((n) => !registered.has(n))).toEqual([]);
    for (const panel of [
      'slot lag',
      'retained wal',
      'wal_status',
      'safe wal',
      'since last applied commit',
      'p50 / p99',
      'backlog by lane',
      'oldest pending',
      'parked',
      'pushes by result',
      'rate budget',
      'token renewals',
      'reconnects',
      'leader',
    ]) {
      expect(JSON.stringify(dashboard.panels.map((p: any) => p.title)).toLowerCase(), panel).toContain(panel);
    }
  });

  it('reads metric names out of PromQL, skipping functions, keywords and label lists', () => {
    expect(
      metricNames('histogram_quantile(0.99, sum by (le, lane) (rate(x_bucket{lane="live"}[5m])))'),
    ).toEqual(['x_bucket']);
    expect(metricNames('max(a and on(instance) (b == 1))')).toEqual(['a', 'b']);
  });
});
