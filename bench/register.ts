/**
 * Agent registration throughput against the embedded stack: a local Temporal dev server + worker, a temp SQLite
 * database, the Koa API, and the fake Intel Trust Authority and Cloudflare. Registers N agents over HTTP (each a
 * `registerAgent` workflow: verify → policy → nonce → tunnel + CNAME → persist) and prints agents/s, p50/p99
 * latency, failures, rows/tunnels/CNAMEs, and what one registration costs (history events, workflow and activity
 * tasks, gRPC calls from the API, DB statements, Cloudflare calls, node and Temporal server CPU).
 *
 * Arrival model: a fleet's agents register over keep-alive connections, a bounded number at a time, so the default
 * is 64 requests in flight on at most 64 kept-alive sockets. `--concurrency N` sets both (`--concurrency 1000` with
 * 1000 agents reproduces the old all-at-once figure: 1000 simultaneous connects, which overflow the listen backlog).
 *
 *   npx tsx bench/register.ts 1000                    # 64 in flight
 *   npx tsx bench/register.ts 300 --concurrency 32
 *   options: --concurrency <requests in flight, default 64>
 *            --wft-slots <N>: the worker's maxConcurrentWorkflowTaskExecutions (default: npm start's
 *            TEMPORAL_MAX_CONCURRENT_WORKFLOW_TASKS, 128; the SDK's is 40; eager start needs a free slot,
 *            and a registration holds one for its local activities)
 *            --no-eager: start registrations on the API's own gRPC connection (an API-only replica) instead of
 *            eagerly through the worker's NativeConnection (as `npm start` does, api/agent-gateway.ts EagerStart)
 *   profile: node --cpu-prof --cpu-prof-dir=<dir> --import tsx bench/register.ts 300 (one file per thread)
 */
// grpc-js is @temporalio/client's transport (its interceptor type); the bench only counts calls with it.
import { InterceptingCall } from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkflowGateway } from '../api/temporal';
import { listen } from '../bin/lib/api-server';
import { bundleWorkflows, createWorker, workerSizing } from '../bin/lib/worker';
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
const DEFAULT_CONCURRENCY = 64;

/** One POST on a kept-alive socket of `agent`. */
function post(agent: Agent, base: URL, path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The dev server's pid, found by its frontend port in /proc (Linux); null elsewhere. */
function temporalServerPid(address: string): number | null {
  const port = address.split(':').pop()!;
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('temporal') || a.includes('temporal-')) && cmd.includes(port)) return Number(d);
    }
  } catch {
    return null;
  }
  return null;
}

/** User + system CPU seconds of a process (its /proc stat), or null. */
function cpuSecondsOf(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

/**
 * `connection` seen through a proxy whose WorkflowService counts its calls by method (the eager client's calls go
 * through the worker's NativeConnection, which has no grpc-js interceptors).
 */
function countingCalls(connection: NativeConnection, calls: Map<string, number>): NativeConnection {
  const service = new Proxy(connection.workflowService, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      const method = prop[0]!.toUpperCase() + prop.slice(1);
      return (...args: unknown[]) => {
        calls.set(method, (calls.get(method) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return new Proxy(connection, {
    get: (target, prop, receiver) => (prop === 'workflowService' ? service : Reflect.get(target, prop, receiver)),
  });
}

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
  const concurrency = arg('concurrency', DEFAULT_CONCURRENCY);

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
      // npm start's sizing (core/config.ts temporal.worker), --wft-slots overriding its workflow task slots.
      options: {
        ...workerSizing(loadConfig(process.env).temporal.worker),
        ...(arg('wft-slots', 0) > 0 ? { maxConcurrentWorkflowTaskExecutions: arg('wft-slots', 0) } : {}),
      },
    });
    const running = worker.run();
    // The API's own connection, counting its gRPC calls by method (a grpc-js interceptor that only looks).
    const grpcCalls = new Map<string, number>();
    const apiConnection = await Connection.connect({
      address: temporal.address,
      interceptors: [
        (options, nextCall) => {
          const method = String(options.method_definition.path).split('/').pop()!;
          grpcCalls.set(method, (grpcCalls.get(method) ?? 0) + 1);
          return new InterceptingCall(nextCall(options));
        },
      ],
    });
    const client = new Client({ connection: apiConnection, dataConverter: dataConverterFor(sealingKey) });
    // npm start's one-process mode: registrations start eagerly on the worker's connection. Its calls are counted
    // by wrapping that connection's WorkflowService (the grpc-js interceptor above sees only the plain connection).
    const eager = !process.argv.includes('--no-eager');
    let eagerlyStarted = 0;
    const eagerClient = eager
      ? new Client({
          connection: countingCalls(connection, grpcCalls),
          dataConverter: dataConverterFor(sealingKey),
          interceptors: {
            workflow: [
              {
                async startWithDetails(input, next) {
                  const out = await next(input);
                  if (out.eagerlyStarted) eagerlyStarted++;
                  return out;
                },
              },
            ],
          },
        })
      : undefined;
    const api = await listen(
      {
        db,
        settings,
        workflows: createWorkflowGateway(client, taskQueue, {
          eagerStart: eagerClient && { client: eagerClient, deadlineMs: 10_000 },
        }),
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
    let dbStatements = 0;
    db.on('query', () => dbStatements++);
    grpcCalls.clear();
    eagerlyStarted = 0;
    cf.requests.length = 0;
    const serverPid = temporalServerPid(temporal.address);
    const serverCpu0 = cpuSecondsOf(serverPid);
    const cpu0 = process.cpuUsage();
    // Keep-alive sockets, at most one per request in flight.
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    const apiUrl = new URL(api.url);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(concurrency, n) }, async () => {
        while (next < n) {
          const body = bodies[next++]!;
          const t = performance.now();
          const res = await post(agent, apiUrl, '/api/v1/agents/register', JSON.stringify(body)).catch(
            (err: unknown) => ({ status: 599, text: String((err as Error).message ?? err) }),
          );
          latencies.push(performance.now() - t);
          if (res.status !== 200) {
            failures++;
            const why = `${res.status} ${res.text.slice(0, 120)}`;
            failedBy.set(why, (failedBy.get(why) ?? 0) + 1);
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const serverCpu1 = cpuSecondsOf(serverPid);
    const serverCpu = serverCpu0 === null || serverCpu1 === null ? null : serverCpu1 - serverCpu0;
    agent.destroy();
    const statements = dbStatements;
    const cfCalls = cf.requests.length;
    const apiCalls = [...grpcCalls];
    latencies.sort((a, b) => a - b);
    const agents = Number((await db('agents').count({ n: '*' }).first())?.n);

    console.log(
      `registered ${n} agents (concurrency ${Math.min(concurrency, n)}, ` +
        `${eager ? `eager start: ${eagerlyStarted} eagerly started` : 'plain start'}) in ${seconds.toFixed(2)} s`,
    );
    console.log(`  ${(n / seconds).toFixed(1)} agents/s`);
    console.log(
      `  latency p50 ${pct(latencies, 50).toFixed(0)} ms, p99 ${pct(latencies, 99).toFixed(0)} ms, max ${latencies.at(-1)!.toFixed(0)} ms`,
    );
    console.log(
      `  ${failures} failed; ${agents} agent rows; ${cf.tunnels().length} tunnels; ${cf.dnsRecords().length} CNAMEs`,
    );
    for (const [why, count] of failedBy) console.log(`  ${count} × ${why}`);

    // What one registration costs: the history of the last one, and the run's totals divided by N.
    const wf = (
      await client.workflow
        .list({ query: `WorkflowType = 'registerAgent' AND TaskQueue = '${taskQueue}'` })
        [Symbol.asyncIterator]()
        .next()
    ).value as { workflowId: string } | undefined;
    const history = wf ? await client.workflow.getHandle(wf.workflowId).fetchHistory() : { events: [] };
    const kinds = new Map<string, number>();
    for (const e of history.events ?? []) {
      const k = Object.keys(e).find((key) => key.endsWith('EventAttributes') && (e as Record<string, unknown>)[key]);
      if (k) kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    const count = (k: string) => kinds.get(`${k}EventAttributes`) ?? 0;
    const per = (x: number) => (x / n).toFixed(1);
    console.log(
      `  per registration: ${history.events?.length ?? 0} history events ` +
        `(${count('workflowTaskCompleted')} workflow tasks, ${count('activityTaskScheduled')} activity tasks, ` +
        `${count('markerRecorded')} markers); ${per(apiCalls.reduce((a, [, c]) => a + c, 0))} API gRPC ` +
        `calls (${apiCalls.map(([m, c]) => `${m} ${per(c)}`).join(', ')}); ${per(statements)} DB statements; ` +
        `${per(cfCalls)} Cloudflare calls`,
    );
    console.log(
      `  CPU per registration: node ${((cpu.user + cpu.system) / 1000 / n).toFixed(1)} ms (API + worker + fakes + ` +
        `client, one process), Temporal server ${serverCpu === null ? 'n/a' : `${((serverCpu * 1000) / n).toFixed(1)} ms`}`,
    );

    await api.close();
    worker.shutdown();
    await running;
    await connection.close();
    await apiConnection.close();
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
