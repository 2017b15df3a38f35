/**
 * Replicas (issue #19 item 5): two API processes (bin/api.ts) and two worker processes (bin/worker.ts), as separate
 * children, against one Temporal dev server and one fresh database — PostgreSQL when TEST_DATABASE_URL is set (CI),
 * else SQLite. Requests alternate between the two APIs (a challenge on one, the
 * registration on the other; an admin session made on one used on the other). One worker is SIGKILLed
 *
 * (a) during a 2,000-deployment billing run: the ledger equals a clean run (one debit per deployment, exact
 *     balance on both APIs), and the run's result equals the ledger;
 * (b) during a burst of registrations: every registration completed once (one agent row per VM, every
 *     `registerAgent` workflow completed, the answer's agent id is the row's), one live tunnel and one CNAME per
 *     agent in the fake Cloudflare and nothing else there — also across the agent-style retries a loaded machine
 *     causes (a fresh challenge per attempt, through the other replica).
 *
 * A killed worker is replaced by a fresh one, as an orchestrator restarts a replica. The file has its own dev server:
 * the workers create the Schedules, which must not be retargeted on the suite's shared server.
 */
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyRing, newSealingKey } from '../../core/auth/keyring';
import { hourLabel } from '../../core/billing';
import { dataConverterFor } from '../../core/temporal/codec';
import { ensureTool } from '../../scripts/tools.mjs';
import type { BillingRunCharged } from '../../workflows/contracts/billing';
import { startFakeCloudflare, type FakeCloudflare } from '../fakes/cloudflare';
import { itaClaims, startFakeIntelTa, type FakeIntelTa } from '../fakes/intel-ta';
import { createTestDb, testEngines, type TestDb, type TestEngine } from '../helpers/databases';
import { freePort, hourDebits, ROOT } from '../helpers/embedded';
import { seedAgent } from '../helpers/seed';
import { http } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

const MRTD = 'a1'.repeat(48);
const DEPLOYMENTS = 2000;
const PRICE = 100_000; // µ$ per deployment-hour (tiny)
/** Small batches, two in flight: the run takes seconds, so the kill lands mid-run. */
const RUN_INPUT = { batchSize: 25, concurrency: 2 };
const AGENTS = 50;
const ADMIN_PASSWORD = 'replicas-password';

interface Proc {
  child: ChildProcess;
  name: string;
  output(): string;
  exited: Promise<void>;
}

function spawnProc(name: string, script: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, name, output: () => output, exited };
}

async function ready(p: Proc, text: string): Promise<void> {
  await waitFor(
    `${p.name}: "${text}"`,
    () => {
      if (p.child.exitCode !== null || p.child.signalCode !== null)
        throw new Error(`${p.name} ended before "${text}":\n${p.output()}`);
      return p.output().includes(text);
    },
    (ok) => ok,
    120_000,
  );
}

let temporal: TestWorkflowEnvironment;
const procs: Proc[] = [];
/** One install key for the file: the Schedules on the dev server carry payloads sealed with it. */
const sealingKey = newSealingKey();
beforeAll(async () => {
  const cli = await ensureTool('temporal', { log: () => {} });
  temporal = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli }, extraArgs: ['--log-level', 'error'] },
  });
});
afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await temporal?.teardown();
});

/**
 * Replicas share a database in production only on PostgreSQL (docs/production.md): the test runs there when
 * TEST_DATABASE_URL is set (CI), else on SQLite (several processes on one WAL file), so it never silently skips.
 */
const engine: TestEngine = testEngines().includes('postgres') ? 'postgres' : 'sqlite';

describe(`two APIs and two workers on one database (${engine})`, () => {
  let testDb: TestDb;
  let ita: FakeIntelTa;
  let cf: FakeCloudflare;
  let client: Client;
  let env: Record<string, string>;
  let apis: ReturnType<typeof http>[];
  const workers: Proc[] = [];
  const taskQueue = `replicas-${randomUUID()}`;

  const startWorker = async (name: string): Promise<Proc> => {
    const w = spawnProc(name, 'bin/worker.ts', env);
    procs.push(w);
    await ready(w, 'worker polling');
    return w;
  };

  beforeAll(async () => {
    testDb = await createTestDb(engine);
    ita = await startFakeIntelTa();
    cf = await startFakeCloudflare();
    env = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATABASE_URL: testDb.url ?? '',
      EASYENCLAVE_DB_PATH: testDb.filename ?? '',
      EASYENCLAVE_SEALING_KEY: sealingKey,
      EASYENCLAVE_ENV: '',
      WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      METRICS_PORT: '',
      ADMIN_PASSWORD,
      API_HOST: '127.0.0.1',
      ITA_JWKS_URL: ita.jwksUrl,
      ITA_ISSUER: ita.issuer,
      CLOUDFLARE_ACCOUNT_ID: cf.accountId,
      CLOUDFLARE_ZONE_ID: cf.zoneId,
      CLOUDFLARE_API_TOKEN: cf.apiToken,
      CLOUDFLARE_API_URL: cf.url,
      EASYENCLAVE_DOMAIN: cf.zoneName,
      TRUSTED_AGENT_MRTDS: MRTD,
      // Every request comes from 127.0.0.1; the per-IP limits are not under test here.
      RATELIMIT_ENABLED: 'false',
      // The API's Temporal call deadline (2 s) is for a healthy server; this machine runs four control-plane
      // processes, a dev server and PostgreSQL on two cores. 503s still happen and are retried as an agent does.
      TEMPORAL_CALL_DEADLINE_MS: '10000',
    };
    const t0 = Date.now();
    const ports = [await freePort(), await freePort()];
    const apiProcs = ports.map((port, i) => spawnProc(`api-${i}`, 'bin/api.ts', { ...env, PORT: String(port) }));
    procs.push(...apiProcs);
    const started = await Promise.all([
      startWorker('worker-0'),
      startWorker('worker-1'),
      ...apiProcs.map((p) => ready(p, 'API listening on')),
    ]);
    workers.push(started[0] as Proc, started[1] as Proc);
    apis = ports.map((port) => http(`http://127.0.0.1:${port}`));
    console.log(`[replicas ${engine}] two APIs and two workers up in ${Date.now() - t0} ms`);
    client = new Client({
      connection: await Connection.connect({ address: temporal.address }),
      dataConverter: dataConverterFor(keyRing(sealingKey)),
    });
  }, 240_000);

  afterAll(async () => {
    await client?.connection.close();
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await ita?.close();
    await cf?.close();
    await testDb?.destroy();
  }, 60_000);

  /** SIGKILLs `w` and starts its replacement in the background (an orchestrator restarting the replica). */
  const killAndReplace = (w: Proc): Promise<Proc> => {
    w.child.kill('SIGKILL');
    return w.exited.then(() => startWorker(`${w.name}'`));
  };

  it('a worker SIGKILLed mid-run: the ledger equals a clean run, seen alike through both APIs', async () => {
    // An account and its funds through the APIs: created on one, the admin session of the other credits it.
    const created = await apis[0]!.post('/api/v1/accounts', { json: { name: 'payer', account_type: 'deployer' } });
    expect(created.status, created.text).toBe(200);
    const { account_id: payer, api_key: apiKey } = created.body as { account_id: string; api_key: string };
    const login = await apis[1]!.post('/admin/login', { json: { password: ADMIN_PASSWORD } });
    expect(login.status, login.text).toBe(200);
    const deposit = DEPLOYMENTS * PRICE * 3;
    const credit = await apis[0]!.post(`/api/v1/accounts/${payer}/deposit`, {
      token: login.body.token,
      json: { amount: deposit / 1_000_000 },
    });
    expect(credit.status, credit.text).toBe(200);

    // A random past hour keeps workflow ids apart; one agent holds every deployment (billing charges those whose
    // agent exists and holds no other one).
    const chargeMs = Date.UTC(2021, 0, 1) + Math.floor(Math.random() * 40_000) * 3_600_000;
    const hour = hourLabel(chargeMs);
    await seedAgent(testDb.db, { agent_id: payer });
    const ids = Array.from({ length: DEPLOYMENTS }, (_, i) => `rep-${String(i).padStart(5, '0')}-${payer.slice(0, 8)}`);
    const rows = ids.map((deployment_id) => ({
      deployment_id,
      compose: 'c2VydmljZXM6IHt9',
      config: '{}',
      agent_id: payer,
      account_id: payer,
      status: 'running',
      created_at: new Date().toISOString(),
      started_at: new Date(chargeMs - 3_600_000).toISOString(),
    }));
    for (let i = 0; i < rows.length; i += 200) await testDb.db('deployments').insert(rows.slice(i, i + 200));

    const handle = await client.workflow.start('billingRun', {
      taskQueue,
      workflowId: `billing-run:${hour}`,
      args: [{ hour, ...RUN_INPUT }],
    });
    // Once charging is under way, kill the worker that holds a batch in flight (identity `<pid>@<host>`).
    await waitFor(
      'the first charges',
      () => hourDebits(testDb.db, ids, hour),
      (d) => d.length >= 100,
      120_000,
      50,
    );
    const holder = await waitFor(
      'a worker holding a charge batch',
      async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        return workers.find((w) => pending.some((a) => a.lastWorkerIdentity?.startsWith(`${w.child.pid}@`)));
      },
      (w) => w !== undefined,
      60_000,
      20,
    );
    const atKill = (await hourDebits(testDb.db, ids, hour)).length;
    const replacement = killAndReplace(holder!);
    expect(atKill).toBeLessThan(DEPLOYMENTS); // the kill really interrupted the run

    const t0 = Date.now();
    const result = (await handle.result()) as BillingRunCharged;
    console.log(
      `[replicas ${engine}] ${atKill}/${DEPLOYMENTS} charged when ${holder!.name} was SIGKILLed; ` +
        `the run completed ${Date.now() - t0} ms later: ${JSON.stringify({ ...result, errorIds: undefined })}`,
    );
    for (const w of procs) {
      const errors = w
        .output()
        .split('\n')
        .filter((l) => l.includes('ERROR'));
      if (errors.length > 0) console.log(`[replicas ${engine}] ${w.name}:\n${errors.slice(0, 5).join('\n')}`);
    }
    workers.splice(workers.indexOf(holder!), 1, await replacement);
    const debits = await hourDebits(testDb.db, ids, hour);

    // One debit per deployment, under its own key, of the exact price; the run's result says the same.
    expect(debits).toHaveLength(DEPLOYMENTS);
    expect(new Set(debits.map((r) => r.ledger_key)).size).toBe(DEPLOYMENTS);
    expect(debits.every((r) => r.tx_type === 'charge' && r.amount === -PRICE)).toBe(true);
    const totals = await testDb.db('deployments').whereIn('deployment_id', ids).sum({ t: 'total_charged' }).first();
    expect(Number(totals?.t)).toBe(DEPLOYMENTS * PRICE);
    expect(result).toMatchObject({
      deploymentsCharged: DEPLOYMENTS,
      chargedMicros: DEPLOYMENTS * PRICE,
      alreadyCharged: 0,
      errors: 0,
      skipped: 0,
    });
    // The exact balance, through each API.
    for (const api of apis) {
      const account = await api.get(`/api/v1/accounts/${payer}`, { token: apiKey });
      expect(account.status, account.text).toBe(200);
      expect(account.body.balance).toBe((deposit - DEPLOYMENTS * PRICE) / 1_000_000);
    }
  }, 240_000);

  it('a worker SIGKILLed mid-burst: every registration completed once, one tunnel and one CNAME per agent', async () => {
    const vms = Array.from({ length: AGENTS }, (_, i) => `rep-vm-${engine}-${i}`);
    // Each VM's challenge comes from one API and its registration goes to the other: the nonce lives in the
    // database, not in a replica's memory. Tokens bind the challenge nonce (the default `required` mode).
    const attempt = async (vm: string, i: number) => {
      const ch = await apis[i % 2]!.get(`/api/v1/agents/challenge?vm_name=${vm}`);
      expect(ch.status, ch.text).toBe(200);
      const token = await ita.signToken(itaClaims({ mrtd: MRTD, nonce: ch.body.nonce }), { expiresInSec: 3600 });
      const body = { vm_name: vm, node_size: 'tiny', datacenter: 'gcp:us-central1-a' };
      return { ...body, attestation: { tdx: { intel_ta_token: token } } };
    };
    // The burst's first attempts are made up front, so they all arrive at once.
    const first = await Promise.all(vms.map(attempt));
    const agentRows = async () =>
      Number((await testDb.db('agents').whereIn('vm_name', vms).count({ n: '*' }).first())?.n);

    // As the agent does (agent/core/agent-mode.ts), a failed attempt is retried with a fresh challenge and
    // attestation, here through the other replica: a 503 (Temporal did not take the start within the API's deadline
    // on this loaded machine) or the 409 of a start that did land meanwhile (its answer is given once). A retry is a
    // re-registration of the same VM: it must find the agent and its tunnel, never make a second of either.
    let retries = 0;
    const register = async (vm: string, i: number) => {
      for (let n = 0; ; n++) {
        const body = n === 0 ? first[i]! : await attempt(vm, i + n);
        const r = await apis[(i + 1 + n) % 2]!.post('/api/v1/agents/register', { json: body });
        if (![503, 409].includes(r.status) || n >= 10) return r;
        retries++;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    const burst = Promise.all(vms.map(register));
    const atKill = await waitFor('the first registrations', agentRows, (n) => n >= AGENTS / 6, 120_000, 20);
    const killed = workers[0]!;
    const replacement = killAndReplace(killed);
    expect(atKill).toBeLessThan(AGENTS); // the kill landed mid-burst
    const answers = await burst;
    workers.splice(0, 1, await replacement);
    console.log(
      `[replicas ${engine}] ${atKill}/${AGENTS} registered when ${killed.name} was SIGKILLed; ` +
        `${retries} attempts retried after a 503/409`,
    );

    for (const a of answers) expect(a.status, a.text).toBe(200);
    const agents = (await testDb.db('agents').whereIn('vm_name', vms).select('agent_id', 'vm_name', 'tunnel_id')) as {
      agent_id: string;
      vm_name: string;
      tunnel_id: string | null;
    }[];
    expect(agents).toHaveLength(AGENTS);
    expect(new Set(agents.map((a) => a.vm_name)).size).toBe(AGENTS);
    expect(new Set(answers.map((a) => a.body.agent_id))).toEqual(new Set(agents.map((a) => a.agent_id)));

    // Every registration workflow completed (none failed or hangs), at least one per VM, at most one per attempt.
    const runs: { id: string; status: string }[] = [];
    for await (const wf of client.workflow.list({
      query: `WorkflowType = 'registerAgent' AND TaskQueue = '${taskQueue}'`,
    })) {
      runs.push({ id: wf.workflowId, status: wf.status.name });
    }
    expect(runs.length).toBeGreaterThanOrEqual(AGENTS);
    expect(runs.length).toBeLessThanOrEqual(AGENTS + retries);
    expect(runs.filter((r) => r.status !== 'COMPLETED')).toEqual([]);
    expect(new Set(runs.map((r) => r.id.split(':')[1])).size).toBe(AGENTS);

    // Cloudflare: one live tunnel per agent (the one its row names), none deleted or orphaned; one CNAME each.
    const tunnels = cf.tunnels({ includeDeleted: true });
    expect(tunnels).toHaveLength(AGENTS);
    expect(tunnels.every((t) => agents.some((a) => t.name.includes(a.agent_id)))).toBe(true);
    expect(tunnels.every((t) => t.deleted_at === null)).toBe(true);
    expect(new Set(tunnels.map((t) => t.id))).toEqual(new Set(agents.map((a) => a.tunnel_id)));
    const cnames = cf.dnsRecords().filter((r) => r.type === 'CNAME');
    expect(cnames).toHaveLength(AGENTS);
    expect(cnames.every((r) => agents.some((a) => r.name.includes(a.agent_id)))).toBe(true);
    expect(new Set(cnames.map((r) => r.name)).size).toBe(AGENTS);
  }, 240_000);
});
