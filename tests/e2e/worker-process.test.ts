/**
 * The production worker process (bin/worker.ts) and its Temporal settings:
 *
 * - TEMPORAL_SDK_METRICS_ADDRESS: the Temporal SDK's own Prometheus exporter serves `temporal_*` metrics there, and
 *   they move when a workflow runs on that worker;
 * - the TLS settings reach the connections of both bin/worker.ts and bin/api.ts: half an mTLS pair stops each at
 *   start-up with the variable named (tests/unit/temporal-connection.test.ts covers the options themselves).
 *
 * Its own dev server: the worker creates the Schedules, which must not be retargeted on the suite's shared server.
 */
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { keyRing, newSealingKey } from '../../core/auth/keyring';
import { hourLabel } from '../../core/billing';
import { dataConverterFor } from '../../core/temporal/codec';
import { ensureTool } from '../../scripts/tools.mjs';
import { createTestDb, type TestDb } from '../helpers/databases';
import { freePort, ROOT } from '../helpers/embedded';
import { waitFor } from '../helpers/wait';

const sealingKey = newSealingKey();
let temporal: TestWorkflowEnvironment;
let testDb: TestDb;
const children: ChildProcess[] = [];

function run(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

beforeAll(async () => {
  const cli = await ensureTool('temporal', { log: () => {} });
  temporal = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli }, extraArgs: ['--log-level', 'error'] },
  });
  testDb = await createTestDb('sqlite');
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await testDb?.destroy();
  await temporal?.teardown();
});

const baseEnv = () => ({
  TEMPORAL_ADDRESS: temporal.address,
  DATABASE_URL: '',
  EASYENCLAVE_DB_PATH: testDb.filename!,
  EASYENCLAVE_SEALING_KEY: sealingKey,
  EASYENCLAVE_ENV: '',
  WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
  OTEL_EXPORTER_OTLP_ENDPOINT: '',
  METRICS_PORT: '',
  ADMIN_PASSWORD: 'worker-process-password',
});

/** The sum of a metric's samples (all label sets) in Prometheus text, 0 when absent. */
function sampleSum(text: string, name: string, labelIncludes = ''): number {
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(labelIncludes))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('bin/worker.ts', () => {
  it('serves the Temporal SDK metrics on TEMPORAL_SDK_METRICS_ADDRESS, and they move when a workflow runs', async () => {
    const taskQueue = `sdk-metrics-${randomUUID()}`;
    const address = `127.0.0.1:${await freePort()}`;
    const worker = run('bin/worker.ts', {
      ...baseEnv(),
      TEMPORAL_TASK_QUEUE: taskQueue,
      TEMPORAL_SDK_METRICS_ADDRESS: address,
    });
    await waitFor('the worker to poll', worker.output, (o) => o.includes('worker polling'), 120_000);
    expect(worker.output()).toContain(`Temporal SDK metrics on http://${address}/metrics`);
    const scrape = async () => {
      const res = await fetch(`http://${address}/metrics`);
      expect(res.status).toBe(200);
      return res.text();
    };
    const before = await scrape();
    // The worker's pollers report from the start; no billingRun has completed on it yet.
    expect(before).toMatch(/^temporal_/m);
    expect(sampleSum(before, 'temporal_workflow_completed', 'workflow_type="billingRun"')).toBe(0);
    const activitiesBefore = sampleSum(before, 'temporal_activity_execution_latency_count');

    const client = new Client({
      connection: await Connection.connect({ address: temporal.address }),
      dataConverter: dataConverterFor(keyRing(sealingKey)),
    });
    const hour = hourLabel(Date.UTC(2021, 0, 1) + Math.floor(Math.random() * 40_000) * 3_600_000);
    // An empty database: the run reads its config and one empty page (two activities) and completes.
    await client.workflow.execute('billingRun', { taskQueue, workflowId: `billing-run:${hour}`, args: [{ hour }] });
    await client.connection.close();

    // The exporter reads the core's counters on each scrape; the completion is recorded as the task completes.
    const after = await waitFor(
      'temporal_workflow_completed to count the run',
      scrape,
      (t) => sampleSum(t, 'temporal_workflow_completed', 'workflow_type="billingRun"') >= 1,
      30_000,
      200,
    );
    expect(sampleSum(after, 'temporal_workflow_completed', `task_queue="${taskQueue}"`)).toBeGreaterThanOrEqual(1);
    expect(sampleSum(after, 'temporal_activity_execution_latency_count')).toBeGreaterThanOrEqual(activitiesBefore + 2);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  }, 180_000);

  it('bin/worker.ts and bin/api.ts connect with the TLS settings: half an mTLS pair stops each at start-up', async () => {
    for (const script of ['bin/worker.ts', 'bin/api.ts']) {
      const p = run(script, {
        ...baseEnv(),
        PORT: String(await freePort()),
        TEMPORAL_TLS_CLIENT_CERT_PATH: '/nonexistent/client.pem',
      });
      expect(await p.exited, p.output()).toBe(1);
      expect(p.output()).toMatch(/TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together/);
    }
  }, 120_000);
});
