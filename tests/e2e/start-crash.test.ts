/**
 * `npm start` survives its own crashes (issue #10), with a billing run in flight each time:
 *
 * 1. the node process (worker + API) is SIGKILLed: its dev server goes with it (no orphan), a leftover server of an
 *    older start holding the same state is stopped by the next start, which comes up on its own child — no
 *    "address already in use" — and the run completes with the ledger exact and its result equal to the ledger;
 * 2. a worker process holding the in-flight batch is SIGKILLed: another worker resumes the run (time printed);
 * 3. the dev server is SIGKILLed: meanwhile a settings write answers 503 (well within 5 s) and /ready 503, the
 *    start restarts the server on the same state file and the run completes with the ledger exact.
 *
 * After Ctrl-C no temporal process of the data dir is left. Timings (resumption) are printed, not asserted.
 */
import { Client, Connection } from '@temporalio/client';
import { keyRing } from '../../core/auth/keyring';
import { dataConverterFor } from '../../core/temporal/codec';
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterAll, describe, expect, it } from 'vitest';
import { hourLabel } from '../../core/billing';
import { createDb } from '../../core/db/connection';
import { getBalance } from '../../core/stores/ledger';
import { ensureTool } from '../../scripts/tools.mjs';
import type { BillingRunCharged } from '../../workflows/contracts/billing';
import {
  freePorts,
  hourDebits,
  parentOf,
  pidRecord,
  pidsMentioning,
  ROOT,
  seedRunningDeployments,
  spawnStart,
  temporalServerPids,
  until,
  type Embedded,
  type Ports,
} from '../helpers/embedded';

const N = 300;
/** Small batches, one at a time: a few hundred deployments take seconds, so a kill lands mid-run. */
const RUN_INPUT = { batchSize: 5, concurrency: 1 };

/** A random past UTC hour: workflow ids stay apart and no scheduled run of the current hour interferes. */
function pastHour() {
  const chargeMs = Date.UTC(2021, 0, 1) + Math.floor(Math.random() * 40_000) * 3_600_000;
  return { hour: hourLabel(chargeMs), chargeMs };
}

/** A client of the embedded server with the install's payload codec (its key file, created by the start). */
async function temporalClient(port: number, dataDir: string): Promise<Client> {
  const [current, previous] = readFileSync(join(dataDir, 'sealing.key'), 'utf8').split('\n').filter(Boolean);
  return new Client({
    connection: await Connection.connect({ address: `127.0.0.1:${port}` }),
    dataConverter: dataConverterFor(keyRing(current!, previous ?? null)),
  });
}

const spawned: ChildProcess[] = [];
const dirs: string[] = [];
const dbs: Knex[] = [];
afterAll(async () => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  // A guard stops its server when its parent dies; give it a moment, then make sure (only our data dirs' pids).
  await new Promise((r) => setTimeout(r, 500));
  for (const dir of dirs) {
    for (const pid of pidsMentioning(join(dir, 'temporal.db'))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const db of dbs) await db.destroy();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function newStart(dataDir: string, ports: Ports, env: Record<string, string> = {}): Promise<Embedded> {
  const s = await spawnStart(dataDir, ports, env);
  spawned.push(s.child);
  return s;
}

/** The run's result equals the ledger, and the ledger is one clean run: one debit per deployment, exact balance. */
async function expectExactLedger(
  db: Knex,
  seed: { payer: string; ids: string[]; deposit: number },
  hour: string,
  result: BillingRunCharged,
) {
  const debits = await hourDebits(db, seed.ids, hour);
  console.log(`[crash] run result ${JSON.stringify(result)}; ${debits.length} debits in the ledger`);
  expect(debits).toHaveLength(N);
  expect(new Set(debits.map((r) => r.ledger_key)).size).toBe(N);
  expect(debits.every((r) => r.tx_type === 'charge' && r.amount === -100_000)).toBe(true);
  expect(await getBalance(db, seed.payer)).toBe(seed.deposit - N * 100_000);
  const totals = await db('deployments').whereIn('deployment_id', seed.ids).sum({ t: 'total_charged' }).first();
  expect(Number(totals?.t)).toBe(N * 100_000);
  expect(result).toMatchObject({
    deploymentsCharged: N,
    chargedMicros: N * 100_000,
    alreadyCharged: 0,
    errors: 0,
    skipped: 0,
  });
}

async function stopWithCtrlC(s: Embedded, dbFile: string) {
  s.child.kill('SIGINT');
  expect(await s.exited).toBe(0);
  expect(s.output()).toContain('Stopped.');
  expect(pidsMentioning(dbFile)).toEqual([]);
}

describe('npm start survives its own crashes', () => {
  it('SIGKILL of the node process: no orphan, the next start owns its server, the run completes exactly', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ee-crash-node-'));
    dirs.push(dataDir);
    const dbFile = join(dataDir, 'temporal.db');
    const ports = await freePorts();
    const first = await newStart(dataDir, ports);
    await first.waitFor();
    const firstServer = pidRecord(dataDir);
    expect(firstServer.ownerPid).toBe(first.child.pid);

    const db = createDb({ filename: join(dataDir, 'easyenclave.db') });
    dbs.push(db);
    const { hour, chargeMs } = pastHour();
    const seed = await seedRunningDeployments(db, N, chargeMs);
    const client = await temporalClient(ports.temporal, dataDir);
    await client.workflow.start('billingRun', {
      taskQueue: 'easyenclave',
      workflowId: `billing-run:${hour}`,
      args: [{ hour, ...RUN_INPUT }],
    });
    await client.connection.close();
    await until('the first charges', async () => (await hourDebits(db, seed.ids, hour)).length > 0);

    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    await first.exited;
    const atKill = (await hourDebits(db, seed.ids, hour)).length;
    // The guard takes the dev server down with its parent: nothing is left holding the state or the ports.
    await until('the dev server to follow its parent', () => temporalServerPids(dbFile).length === 0, 15_000);
    console.log(`[crash-node] dev server gone ${Date.now() - killedAt} ms after the SIGKILL; ${atKill}/${N} charged`);
    expect(atKill).toBeLessThan(N); // the kill really interrupted the run

    // A server left behind by an older start without a guard (the reported orphan), holding our state and ports.
    const orphan = spawn(
      await ensureTool('temporal', { log: () => {} }),
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(ports.temporal),
        '--ui-port',
        String(ports.ui),
        '--db-filename',
        dbFile,
        '--log-level',
        'error',
      ],
      { stdio: 'ignore' },
    );
    spawned.push(orphan);
    const orphanEnded = new Promise<void>((resolve) => orphan.once('exit', () => resolve()));
    await until('the orphan to answer', async () => {
      try {
        const c = await Connection.connect({ address: `127.0.0.1:${ports.temporal}`, connectTimeout: 500 });
        await c.close();
        return true;
      } catch {
        return false;
      }
    });

    const second = await newStart(dataDir, ports);
    // Generous: right after a restart on existing state a schedule query may need a retry (bin/lib/schedules.ts).
    await second.waitFor('control plane is up', 200_000);
    const upAt = Date.now();
    await orphanEnded;
    expect(second.output()).toContain(`Stopping a stale Temporal dev server (pid ${orphan.pid})`);
    expect(second.output()).not.toMatch(/address already in use/i);
    // Exactly one dev server on this state: the new start's child, under its guard.
    const server = pidRecord(dataDir);
    expect(temporalServerPids(dbFile)).toEqual([server.pid]);
    expect(parentOf(server.pid)).toBe(server.guardPid);
    expect(parentOf(server.guardPid)).toBe(second.child.pid);

    const before = (await hourDebits(db, seed.ids, hour)).length;
    await until('charging to resume', async () => (await hourDebits(db, seed.ids, hour)).length > before, 180_000);
    console.log(
      `[crash-node] charging resumed ${Date.now() - upAt} ms after the new start was up ` +
        `(${Date.now() - killedAt} ms after the SIGKILL, start-up included)`,
    );
    const client2 = await temporalClient(ports.temporal, dataDir);
    const result = (await client2.workflow.getHandle(`billing-run:${hour}`).result()) as BillingRunCharged;
    await client2.connection.close();
    await expectExactLedger(db, seed, hour, result);

    await stopWithCtrlC(second, dbFile);
  }, 300_000);

  it('SIGKILL of a worker holding the in-flight batch: another worker resumes the run within seconds', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ee-crash-worker-'));
    dirs.push(dataDir);
    const ports = await freePorts();
    const start = await newStart(dataDir, ports);
    await start.waitFor();
    // A second worker process (as in production: N worker replicas) on the same task queue and database.
    const worker = spawn(process.execPath, ['--import', 'tsx', 'bin/worker.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
        EE_DATA_DIR: dataDir,
        DATABASE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    spawned.push(worker);
    let workerOut = '';
    worker.stdout!.on('data', (d: Buffer) => (workerOut += d.toString()));
    worker.stderr!.on('data', (d: Buffer) => (workerOut += d.toString()));
    await until('the second worker to poll', () => workerOut.includes('worker polling'), 120_000);

    const db = createDb({ filename: join(dataDir, 'easyenclave.db') });
    dbs.push(db);
    const { hour, chargeMs } = pastHour();
    const seed = await seedRunningDeployments(db, N, chargeMs);
    const client = await temporalClient(ports.temporal, dataDir);
    const handle = await client.workflow.start('billingRun', {
      taskQueue: 'easyenclave',
      workflowId: `billing-run:${hour}`,
      args: [{ hour, ...RUN_INPUT }],
    });
    // Wait until the second worker holds the in-flight batch (identity `<pid>@<host>`), then SIGKILL it.
    await until(
      'the second worker to hold a batch',
      async () =>
        !!(await handle.describe()).raw.pendingActivities?.some((a) =>
          a.lastWorkerIdentity?.startsWith(`${worker.pid}@`),
        ),
      60_000,
    );
    const atKill = (await hourDebits(db, seed.ids, hour)).length;
    worker.kill('SIGKILL');
    const killedAt = Date.now();
    expect(atKill).toBeLessThan(N);
    await until('charging to resume', async () => (await hourDebits(db, seed.ids, hour)).length > atKill + 5, 180_000);
    const resumedMs = Date.now() - killedAt;
    const result = (await handle.result()) as BillingRunCharged;
    // Did the kill lose a batch in flight (it may have completed just before)? Then it ran again: attempt > 1.
    const lost = ((await handle.fetchHistory()).events ?? []).filter(
      (e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1,
    ).length;
    console.log(
      `[crash-worker] charging resumed ${resumedMs} ms after the SIGKILL of the worker holding the batch ` +
        `(${atKill}/${N} charged at the kill; ${lost ? 'its in-flight batch was lost and retried after the heartbeat timeout' : 'its batch had just completed; a stall is then its sticky workflow queue timing out'})`,
    );
    await client.connection.close();
    await expectExactLedger(db, seed, hour, result);
    await stopWithCtrlC(start, join(dataDir, 'temporal.db'));
  }, 300_000);

  it('SIGKILL of the dev server: 503 while it is down, restarted on the same state, the run completes exactly', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ee-crash-temporal-'));
    dirs.push(dataDir);
    const dbFile = join(dataDir, 'temporal.db');
    const ports = await freePorts();
    // A restart delay long enough to look at the outage from outside.
    const start = await newStart(dataDir, ports, { TEMPORAL_DEV_RESTART_DELAY_MS: '6000' });
    await start.waitFor();
    const api = `http://127.0.0.1:${ports.api}`;
    const login = await fetch(`${api}/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'e2e-password' }),
    });
    const { token } = (await login.json()) as { token: string };
    expect((await fetch(`${api}/ready`)).status).toBe(200);

    const db = createDb({ filename: join(dataDir, 'easyenclave.db') });
    dbs.push(db);
    const { hour, chargeMs } = pastHour();
    const seed = await seedRunningDeployments(db, N, chargeMs);
    const client = await temporalClient(ports.temporal, dataDir);
    await client.workflow.start('billingRun', {
      taskQueue: 'easyenclave',
      workflowId: `billing-run:${hour}`,
      args: [{ hour, ...RUN_INPUT }],
    });
    await client.connection.close();
    await until('the first charges', async () => (await hourDebits(db, seed.ids, hour)).length > 0);

    const killed = pidRecord(dataDir).pid;
    process.kill(killed, 'SIGKILL');
    const killedAt = Date.now();
    await start.waitFor('restarting in', 10_000);

    // During the outage: a workflow-backed write fails fast with 503 (the fetch gives up at 5 s), /ready is 503,
    // /health stays 200 (liveness) and says Temporal is unreachable.
    const t = Date.now();
    const put = await fetch(`${api}/api/v1/admin/settings/billing.enabled`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ value: 'true' }),
      signal: AbortSignal.timeout(5000),
    });
    console.log(`[crash-temporal] settings write during the outage answered ${put.status} in ${Date.now() - t} ms`);
    expect(put.status).toBe(503);
    expect(((await put.json()) as { detail: string }).detail).toMatch(/orchestrator \(Temporal\) is unavailable/);
    const ready = await fetch(`${api}/ready`, { signal: AbortSignal.timeout(5000) });
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { detail: string }).detail).toMatch(/Temporal/);
    const health = await fetch(`${api}/health`, { signal: AbortSignal.timeout(5000) });
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'healthy', temporal: 'unreachable' });

    await start.waitFor('Temporal dev server restarted', 60_000);
    const restarted = pidRecord(dataDir).pid;
    expect(restarted).not.toBe(killed);
    expect(temporalServerPids(dbFile)).toEqual([restarted]);
    await until('/ready', async () => (await fetch(`${api}/ready`)).status === 200, 30_000);
    console.log(`[crash-temporal] ready again ${Date.now() - killedAt} ms after the dev server was killed`);

    const client2 = await temporalClient(ports.temporal, dataDir);
    const result = (await client2.workflow.getHandle(`billing-run:${hour}`).result()) as BillingRunCharged;
    console.log(`[crash-temporal] run completed ${Date.now() - killedAt} ms after the kill`);
    await client2.connection.close();
    await expectExactLedger(db, seed, hour, result);
    expect(start.child.exitCode).toBeNull();

    await stopWithCtrlC(start, dbFile);
  }, 300_000);
});
