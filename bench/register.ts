/**
 * Agent registration throughput against the embedded stack: a local Temporal dev server + worker, a temp SQLite
 * database, the Koa API, and the fake Intel Trust Authority and Cloudflare. Registers N agents concurrently over
 * HTTP (each a `registerAgent` workflow: verify → policy → nonce → tunnel + CNAME → persist) and prints agents/s and
 * p50/p99 latency.
 *
 *   npx tsx bench/register.ts 200                  # all 200 in flight at once
 *   options: --concurrency <requests in flight, default N>
 */
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkflowGateway } from '../api/temporal';
import { listen } from '../bin/lib/api-server';
import { bundleWorkflows, createWorker } from '../bin/lib/worker';
import { randomKeyRing } from '../core/auth/keyring';
import { dataConverterFor } from '../core/temporal/codec';
import { VerifiedTokenCache } from '../core/auth/token-cache';
import { loadConfig } from '../core/config';
import { createDb } from '../core/db/connection';
import { migrateLatest } from '../core/db/migrate';
import { silentLogger } from '../core/logger';
import { SettingsService } from '../core/settings/service';
import { ensureTool } from '../scripts/tools.mjs';
import { startFakeCloudflare } from '../tests/fakes/cloudflare';
import { itaClaims, startFakeIntelTa } from '../tests/fakes/intel-ta';

const MRTD = 'a1'.repeat(48);

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function inPool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error('usage: npx tsx bench/register.ts <agents>');
  const concurrency = arg('concurrency', n);

  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const cli = await ensureTool('temporal', { log: () => {} });
  const temporal = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli }, extraArgs: ['--log-level', 'error'] },
  });
  const ita = await startFakeIntelTa();
  const cf = await startFakeCloudflare();
  const dir = mkdtempSync(join(tmpdir(), 'ee-bench-reg-'));
  const db = createDb({ filename: join(dir, 'bench.db') });
  try {
    await migrateLatest(db);
    const env = {
      ITA_JWKS_URL: ita.jwksUrl,
      ITA_ISSUER: ita.issuer,
      CLOUDFLARE_ACCOUNT_ID: cf.accountId,
      CLOUDFLARE_ZONE_ID: cf.zoneId,
      CLOUDFLARE_API_TOKEN: cf.apiToken,
      CLOUDFLARE_API_URL: cf.url,
      EASYENCLAVE_DOMAIN: cf.zoneName,
      TRUSTED_AGENT_MRTDS: MRTD,
      // Every request comes from 127.0.0.1: the per-IP limits (30 registrations/min) would be the only figure.
      RATELIMIT_ENABLED: 'false',
    };
    const settings = new SettingsService(db, { env });
    const sealingKey = randomKeyRing();
    const logger = silentLogger();
    const taskQueue = `bench-${randomUUID()}`;
    const workflowBundle = await bundleWorkflows({ logger: quiet });
    const connection = await NativeConnection.connect({ address: temporal.address });
    const worker = await createWorker({
      connection,
      namespace: 'default',
      taskQueue,
      workflowBundle,
      activityDeps: { db, settings, logger, sealingKey, trustEnv: env },
    });
    const running = worker.run();
    const client = new Client({ connection: temporal.connection, dataConverter: dataConverterFor(sealingKey) });
    const api = await listen(
      {
        db,
        settings,
        workflows: createWorkflowGateway(client, taskQueue),
        logger,
        config: loadConfig({ ...env, TEMPORAL_TASK_QUEUE: taskQueue }),
        adminPasswordHash: null,
        credentialCache: new VerifiedTokenCache(),
        sealingKey,
        cpAttestation: async () => null,
        now: () => new Date(),
      },
      '127.0.0.1',
      0,
    );

    // Challenges and tokens are made up front (each token binds its vm's challenge nonce, as the default
    // `required` nonce mode demands) so the figures measure registration, not the fake's signing.
    // 64 at a time: a thousand simultaneous connects overflow the listen backlog (ECONNRESET), which is not the
    // figure under test.
    const bodies = await inPool(
      Array.from({ length: n }, (_, i) => i),
      64,
      async (i) => {
        const vm = `bench-vm-${i}`;
        const ch = await fetch(`${api.url}/api/v1/agents/challenge?vm_name=${vm}`);
        const { nonce } = (await ch.json()) as { nonce: string };
        return {
          vm_name: vm,
          node_size: 'tiny',
          datacenter: 'gcp:us-central1-a',
          attestation: {
            tdx: { intel_ta_token: await ita.signToken(itaClaims({ mrtd: MRTD, nonce }), { expiresInSec: 3600 }) },
          },
        };
      },
    );

    const latencies: number[] = [];
    let failures = 0;
    const failedBy = new Map<string, number>();
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(concurrency, n) }, async () => {
        while (next < n) {
          const body = bodies[next++]!;
          const t = performance.now();
          const res = await fetch(`${api.url}/api/v1/agents/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          }).catch((err: unknown) => new Response(String((err as Error).cause ?? err), { status: 599 }));
          const text = await res.text();
          latencies.push(performance.now() - t);
          if (res.status !== 200) {
            failures++;
            const why = `${res.status} ${text.slice(0, 120)}`;
            failedBy.set(why, (failedBy.get(why) ?? 0) + 1);
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const agents = Number((await db('agents').count({ n: '*' }).first())?.n);

    console.log(`registered ${n} agents (concurrency ${Math.min(concurrency, n)}) in ${seconds.toFixed(2)} s`);
    console.log(`  ${(n / seconds).toFixed(1)} agents/s`);
    console.log(
      `  latency p50 ${pct(latencies, 50).toFixed(0)} ms, p99 ${pct(latencies, 99).toFixed(0)} ms, max ${latencies.at(-1)!.toFixed(0)} ms`,
    );
    console.log(
      `  ${failures} failed; ${agents} agent rows; ${cf.tunnels().length} tunnels; ${cf.dnsRecords().length} CNAMEs`,
    );

    for (const [why, count] of failedBy) console.log(`  ${count} × ${why}`);

    await api.close();
    worker.shutdown();
    await running;
    await connection.close();
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
    await ita.close();
    await cf.close();
    await temporal.teardown();
  }
}

const noop = () => {};
const quiet = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
