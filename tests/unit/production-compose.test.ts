/**
 * docs/examples/docker-compose.production.yml (docs/production.md) parses and wires what the page promises: PostgreSQL,
 * Temporal, a one-shot migrate before N API and N worker replicas from one image built with the workflow bundle,
 * the same install environment on both, a proxy in front of the APIs; and every variable it sets is documented.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = new URL('../..', import.meta.url).pathname;
const read = (p: string) => readFileSync(`${ROOT}${p}`, 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
}

// `merge: true` resolves the `<<: *easyenclave` keys as Compose does.
const compose = parse(read('docs/examples/docker-compose.production.yml'), { merge: true }) as {
  services: Record<string, Service>;
  configs: Record<string, { content: string }>;
};
const { services } = compose;

describe('docs/examples/docker-compose.production.yml', () => {
  it('has PostgreSQL, Temporal, migrate, api, worker and a proxy', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['api', 'migrate', 'postgres', 'proxy', 'temporal', 'temporal-ui', 'worker'].sort(),
    );
    expect(services.postgres!.image).toMatch(/^postgres:/);
    expect(services.temporal!.image).toMatch(/^temporalio\/auto-setup:/);
    expect(services.temporal!.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
  });

  it('runs N ≥ 2 API and worker replicas of one image, after the migration', () => {
    for (const name of ['api', 'worker']) {
      const s = services[name]!;
      expect(s.deploy?.replicas, name).toBeGreaterThanOrEqual(2);
      expect(s.image, name).toBe(services.migrate!.image);
      expect(s.depends_on?.migrate, name).toEqual({ condition: 'service_completed_successfully' });
    }
    expect(services.migrate!.command).toEqual(['node', '--import', 'tsx', 'bin/migrate.ts']);
    expect(services.api!.command).toEqual(['node', '--import', 'tsx', 'bin/api.ts']);
    expect(services.worker!.command).toEqual(['node', '--import', 'tsx', 'bin/worker.ts']);
    expect(services.migrate!.depends_on?.postgres).toEqual({ condition: 'service_healthy' });
  });

  it('gives API and worker the same install: PostgreSQL, Temporal, the sealing key; workers load the bundle', () => {
    const [api, worker] = [services.api!.environment!, services.worker!.environment!];
    for (const env of [api, worker]) {
      expect(env.DATABASE_URL).toMatch(/^postgres:\/\/easyenclave:.*@postgres:5432\/easyenclave$/);
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(env.EASYENCLAVE_ENV).toBe('production');
      expect(env.EASYENCLAVE_SEALING_KEY).toMatch(/^\$\{EASYENCLAVE_SEALING_KEY:\?/); // required, never a default
    }
    for (const k of ['DATABASE_URL', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'EASYENCLAVE_SEALING_KEY'])
      expect(api[k], k).toBe(worker[k]);
    expect(worker.WORKFLOW_BUNDLE_PATH).toBe('/app/dist/workflow-bundle.js');
    expect(worker.TEMPORAL_SDK_METRICS_ADDRESS).toBe('0.0.0.0:9464');
  });

  it('builds the image with the prebuilt workflow bundle and the dashboard', () => {
    const build = services.api!.build!;
    expect(build.dockerfile).toBe('docs/examples/Dockerfile');
    const dockerfile = read(build.dockerfile);
    expect(dockerfile).toMatch(/npm run build:workflows -- dist\/workflow-bundle\.js/);
    expect(dockerfile).toContain('npm run build:web');
    expect(dockerfile).toContain('WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js');
  });

  it('the proxy round-robins over the api service', () => {
    expect(compose.configs.nginx!.content).toMatch(/upstream easyenclave_api \{ server api:8080; \}/);
    expect(services.proxy!.depends_on?.api).toEqual({ condition: 'service_healthy' });
  });

  it('every variable it sets on the control plane is documented (README configuration or settings table)', () => {
    const readme = read('README.md');
    const production = read('docs/production.md');
    const names = new Set([...Object.keys(services.api!.environment!), ...Object.keys(services.worker!.environment!)]);
    for (const name of names) expect(readme.includes(name) || production.includes(name), name).toBe(true);
  });
});
