/**
 * Health sweep at fleet scale: seeds N agents behind one local fake agent server (tests/fakes/agent.ts, every agent
 * healthy), runs ONE `agentHealthSweep` on a local Temporal dev server + worker, and prints its duration, batches,
 * continue-as-new runs and the longest history of any of its workflows (parent runs and child batches).
 *
 *   npx tsx bench/sweep.ts 10000
 *   options: --batch <agents per child, default 100> --probes <probes in flight per child, default 16>
 *            --parallel <children in flight, default 4> --per-run <children per parent run, default 40>
 */
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflows, createWorker } from '../bin/lib/worker';
import { randomKeyRing } from '../core/auth/keyring';
import { createDb } from '../core/db/connection';
import { migrateLatest } from '../core/db/migrate';
import { silentLogger } from '../core/logger';
import { SettingsService } from '../core/settings/service';
import { dataConverterFor } from '../core/temporal/codec';
import { ensureTool } from '../scripts/tools.mjs';
import { startFakeAgent } from '../tests/fakes/agent';
import { healthSweepBatchId, type AgentHealthSweepReport } from '../workflows/contracts/health-sweep';

async function historyOf(client: Client, workflowId: string, runId?: string) {
  return (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 10_000);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error('usage: npx tsx bench/sweep.ts <agents>');
  const options = {
    batchSize: arg('batch', 100),
    probeConcurrency: arg('probes', 16),
    parallelBatches: arg('parallel', 4),
    batchesPerRun: arg('per-run', 40),
  };

  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const cli = await ensureTool('temporal', { log: () => {} });
  const temporal = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli }, extraArgs: ['--log-level', 'error'] },
  });
  const fake = await startFakeAgent();
  const dir = mkdtempSync(join(tmpdir(), 'ee-bench-sweep-'));
  const db = createDb({ filename: join(dir, 'bench.db') });
  try {
    await migrateLatest(db);
    const now = new Date().toISOString();
    const rows = Array.from({ length: n }, () => {
      const id = randomUUID();
      return {
        agent_id: id,
        vm_name: `vm-${id}`,
        status: 'undeployed',
        mrtd: 'a'.repeat(96),
        hostname: `agent-${id}.example.com`,
        health_status: 'healthy',
        registered_at: now,
        last_heartbeat: now,
        verified: true,
        node_size: 'tiny',
        datacenter: 'gcp:us-central1-a',
      };
    });
    for (let i = 0; i < rows.length; i += 500) await db('agents').insert(rows.slice(i, i + 500));

    const env = { AGENT_DIRECT_URL: fake.directUrlTemplate };
    const settings = new SettingsService(db, { env });
    const sealingKey = randomKeyRing();
    const taskQueue = `bench-${randomUUID()}`;
    const workflowBundle = await bundleWorkflows({ logger: quiet });
    const connection = await NativeConnection.connect({ address: temporal.address });
    const worker = await createWorker({
      connection,
      namespace: 'default',
      taskQueue,
      workflowBundle,
      activityDeps: { db, settings, logger: silentLogger(), sealingKey },
    });
    const running = worker.run();
    const client = new Client({ connection: temporal.connection, dataConverter: dataConverterFor(sealingKey) });

    const workflowId = `bench-sweep-${randomUUID()}`;
    const t0 = performance.now();
    const handle = await client.workflow.start('agentHealthSweep', { taskQueue, workflowId, args: [options] });
    const report = (await handle.result()) as AgentHealthSweepReport;
    const seconds = (performance.now() - t0) / 1000;

    let longestParent = 0;
    let runId: string | undefined = handle.firstExecutionRunId;
    while (runId) {
      const events = await historyOf(client, workflowId, runId);
      longestParent = Math.max(longestParent, events.length);
      runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    let longestChild = 0;
    for (let b = 0; b < report.batches; b++) {
      const h = await client.workflow.getHandle(healthSweepBatchId(workflowId, b)).fetchHistory();
      longestChild = Math.max(longestChild, h.events?.length ?? 0);
    }
    const probed = fake.requests.filter((r) => r.path === '/api/health').length;
    console.log(
      `sweep ${n} agents: ${seconds.toFixed(1)} s (reported ${report.durationMs} ms), ${(n / seconds).toFixed(0)} agents/s, ` +
        `${report.checked} checked, ${report.healthy} healthy, ${probed} probes, ${report.batches} batches, ` +
        `${report.runs} runs; longest history: parent run ${longestParent} events, child ${longestChild} events`,
    );

    worker.shutdown();
    await running;
    await connection.close();
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
    await fake.close();
    await temporal.teardown();
  }
}

const noop = () => {};
const quiet = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
