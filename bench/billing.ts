/**
 * Hourly billing throughput: seeds N running deployments (several deployers, agents with and without an operator
 * account, an app with two contributors, a platform account), runs ONE `billingRun` workflow on a local Temporal dev
 * server + worker, and prints how long it took and ledger rows/s.
 *
 *   npx tsx bench/billing.ts 10000                         # temp SQLite file
 *   BENCH_DATABASE_URL=postgres://… npx tsx bench/billing.ts 10000   # a fresh PostgreSQL database under that server
 *   options: --batch <ids per activity, default 200> --concurrency <activities in flight, default 4>
 */
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { bundleWorkflows, createWorker } from '../bin/lib/worker';
import { randomKeyRing } from '../core/auth/keyring';
import { dataConverterFor } from '../core/temporal/codec';
import { createDb } from '../core/db/connection';
import { migrateLatest } from '../core/db/migrate';
import { silentLogger } from '../core/logger';
import { SettingsService } from '../core/settings/service';
import { appendLedgerEntry } from '../core/stores/ledger';
import { ensureTool } from '../scripts/tools.mjs';
import type { BillingRunResult } from '../workflows/contracts/billing';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function openDb(): Promise<{ db: Knex; engine: string; cleanup: () => Promise<void> }> {
  const pgUrl = process.env.BENCH_DATABASE_URL;
  if (pgUrl) {
    const name = `ee_bench_${randomUUID().slice(0, 8)}`;
    const admin = createDb({ url: pgUrl });
    await admin.raw(`CREATE DATABASE ${name}`);
    const u = new URL(pgUrl);
    u.pathname = `/${name}`;
    const db = createDb({ url: u.toString() });
    return {
      db,
      engine: 'postgres',
      cleanup: async () => {
        await db.destroy();
        await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
        await admin.destroy();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'ee-bench-'));
  const db = createDb({ filename: join(dir, 'bench.db') });
  return {
    db,
    engine: 'sqlite',
    cleanup: async () => {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function seed(db: Knex, n: number, chargeMs: number): Promise<{ platform: string }> {
  const now = new Date().toISOString();
  const account = async (type: string, extra: Record<string, unknown> = {}) => {
    const account_id = randomUUID();
    await db('accounts').insert({
      account_id,
      name: `bench-${account_id}`,
      account_type: type,
      created_at: now,
      ...extra,
    });
    return account_id;
  };
  const deployers = await Promise.all(Array.from({ length: 10 }, () => account('deployer')));
  for (const d of deployers)
    await appendLedgerEntry(db, { accountId: d, amount: 1_000_000_000_000, txType: 'deposit' });
  const operators = await Promise.all(Array.from({ length: 5 }, () => account('agent')));
  const platform = await account('deployer');
  const c1 = await account('contributor');
  const c2 = await account('contributor');
  await db('apps').insert({ app_id: randomUUID(), name: 'bench-app', created_at: now });
  await db('app_revenue_shares').insert([
    { share_id: randomUUID(), app_name: 'bench-app', account_id: c1, share_bps: 6000, label: 'a', created_at: now },
    { share_id: randomUUID(), app_name: 'bench-app', account_id: c2, share_bps: 4000, label: 'b', created_at: now },
  ]);
  const agents: string[] = [];
  for (let i = 0; i < 20; i++) {
    const agent_id = randomUUID();
    agents.push(agent_id);
    await db('agents').insert({
      agent_id,
      vm_name: `bench-${agent_id}`,
      status: 'deployed',
      mrtd: 'a'.repeat(96),
      registered_at: now,
      last_heartbeat: now,
      account_id: i % 4 === 3 ? null : operators[i % operators.length],
    });
  }
  const sizes = [
    { cpu_vcpus: 2, memory_gb: 4, gpu_count: 0, sla_class: 'adhoc', machine_size: 'default' },
    { cpu_vcpus: 4, memory_gb: 8, gpu_count: 0, sla_class: 'three_nines', machine_size: 'default' },
    { cpu_vcpus: 8, memory_gb: 32, gpu_count: 1, sla_class: 'five_nines', machine_size: 'h100' },
    { cpu_vcpus: 1, memory_gb: 0.5, gpu_count: 0, sla_class: 'four_nines', machine_size: 'default' },
  ];
  const startedAt = new Date(chargeMs - 3_600_000).toISOString();
  let rows: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    rows.push({
      deployment_id: randomUUID(),
      compose: 'c2VydmljZXM6IHt9',
      config: '{}',
      agent_id: agents[i % agents.length],
      account_id: deployers[i % deployers.length],
      app_name: i % 2 === 0 ? 'bench-app' : null,
      status: 'running',
      created_at: now,
      started_at: startedAt,
      ...sizes[i % sizes.length],
    });
    if (rows.length === 500 || i === n - 1) {
      await db('deployments').insert(rows);
      rows = [];
    }
  }
  return { platform };
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 1000);
  const batchSize = arg('batch', 200);
  const concurrency = arg('concurrency', 4);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error('usage: npx tsx bench/billing.ts <deployments>');

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const cli = await ensureTool('temporal', { log: () => {} });
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli }, extraArgs: ['--log-level', 'error'] },
  });
  const { db, engine, cleanup } = await openDb();
  try {
    await migrateLatest(db);
    const chargeMs = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const hour = new Date(chargeMs).toISOString().slice(0, 13);
    let t = performance.now();
    const { platform } = await seed(db, n, chargeMs);
    console.log(`seeded ${n} running deployments on ${engine} in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const settings = new SettingsService(db, { env: { BILLING_PLATFORM_ACCOUNT_ID: platform } });
    const taskQueue = `bench-${randomUUID()}`;
    const sealingKey = randomKeyRing();
    const workflowBundle = await bundleWorkflows({ logger: quiet });
    const connection = await NativeConnection.connect({ address: env.address });
    const worker = await createWorker({
      connection,
      namespace: 'default',
      taskQueue,
      workflowBundle,
      activityDeps: { db, settings, logger: silentLogger(), sealingKey },
    });
    const running = worker.run();
    const client = new Client({ connection: env.connection, dataConverter: dataConverterFor(sealingKey) });

    const before = Number((await db('transactions').count({ n: '*' }).first())?.n);
    t = performance.now();
    const result = (await client.workflow.execute('billingRun', {
      taskQueue,
      workflowId: `billing-run:${hour}`,
      args: [{ hour, batchSize, concurrency }],
    })) as BillingRunResult;
    const seconds = (performance.now() - t) / 1000;
    const rows = Number((await db('transactions').count({ n: '*' }).first())?.n) - before;

    console.log(`billing run ${hour} (batch ${batchSize}, concurrency ${concurrency}): ${seconds.toFixed(2)} s`);
    console.log(
      `  ${(n / seconds).toFixed(0)} deployments/s, ${rows} ledger rows, ${(rows / seconds).toFixed(0)} ledger rows/s`,
    );
    console.log(`  result: ${JSON.stringify(result)}`);

    worker.shutdown();
    await running;
    await connection.close();
  } finally {
    await cleanup();
    await env.teardown();
  }
}

const noop = () => {};
const quiet = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
