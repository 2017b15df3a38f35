/**
 * The platform's own ceiling for "one workflow per request" on this machine: the project's Temporal dev server
 * (bin/lib/temporal-dev-server.ts, as `npm start` runs it: SQLite state file, the project's flags and dynamic config)
 * and a worker with the project's worker options (bin/lib/worker.ts `workerSizing`, the payload codec, the same
 * shutdown grace) running a TRIVIAL workflow (bench/workflows/trivial.ts: one workflow task, no activity). N starts
 * with `client.workflow.execute`, `--concurrency` (default 64) in flight; `--eager` puts the client on the worker's
 * NativeConnection and requests eager start (the server hands the first workflow task back in the start's answer).
 * Prints one line: workflows/s, p50/p99, how many were eagerly started, node and server CPU per workflow.
 *
 *   npm run bench:temporal-ceiling -- 2000            # plain start + result long-poll
 *   npm run bench:temporal-ceiling -- 2000 --eager    # eager workflow start
 *   npm run bench:temporal-ceiling -- 2000 --memory   # state in memory, no Web UI (as the test suite's and
 *                                                     # bench/register's server) instead of a state file
 *   options: --concurrency <in flight, default 64>  --no-codec  --dev-config KEY=JSON (repeatable)
 *            --worker KEY=JSON (repeatable: a WorkerOptions field on top of the project's, e.g.
 *            nonStickyToStickyPollRatio=1)  --sqlite-pragma P=V (repeatable; replaces the project's pragmas; `--sqlite-pragma none`: the CLI's own)
 */
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_SERVER_SQLITE_PRAGMAS, startTemporalDevServer } from '../bin/lib/temporal-dev-server';
import { workerSizing } from '../bin/lib/worker';
import { randomKeyRing } from '../core/auth/keyring';
import { loadConfig } from '../core/config';
import { silentLogger } from '../core/logger';
import { dataConverterFor } from '../core/temporal/codec';
import { ensureTool } from '../scripts/tools.mjs';
import type { trivial } from './workflows/trivial';
import { freePort } from '../scripts/free-port.mjs';

const WORKFLOWS = fileURLToPath(new URL('./workflows/trivial.ts', import.meta.url));

/** User + system CPU seconds of a process (its /proc stat), or null. */
function cpuSecondsOf(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

const flag = (name: string) => process.argv.includes(`--${name}`);
function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
function repeated(name: string): string[] {
  return process.argv.flatMap((a, i) => (a === `--${name}` && process.argv[i + 1] ? [process.argv[i + 1]!] : []));
}
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 1000);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error('usage: npm run bench:temporal-ceiling -- <N> [--eager]');
  const eager = flag('eager');
  const concurrency = option('concurrency', 64);
  const codec = !flag('no-codec');
  const dynamicConfig = Object.fromEntries(
    repeated('dev-config').map((kv) => [kv.slice(0, kv.indexOf('=')), JSON.parse(kv.slice(kv.indexOf('=') + 1))]),
  );
  const pragmas = repeated('sqlite-pragma');
  const sqlitePragmas = pragmas.length ? pragmas.filter((p) => p !== 'none') : undefined;
  const memory = flag('memory');
  const workerOverrides = Object.fromEntries(
    repeated('worker').map((kv) => [kv.slice(0, kv.indexOf('=')), JSON.parse(kv.slice(kv.indexOf('=') + 1))]),
  );

  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const cliPath = await ensureTool('temporal', { log: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'ee-bench-ceiling-'));
  const config = loadConfig({});
  const dev = await startTemporalDevServer({
    cliPath,
    ip: '127.0.0.1',
    port: await freePort(),
    uiPort: await freePort(),
    dbFilename: join(dir, 'temporal.db'),
    namespace: 'default',
    logger: silentLogger(),
    inMemory: memory,
    dynamicConfig,
    sqlitePragmas,
  });
  try {
    const dataConverter = codec ? dataConverterFor(randomKeyRing()) : undefined;
    const taskQueue = 'ceiling';
    const workflowBundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS, logger: quiet });
    const nativeConnection = await NativeConnection.connect({ address: dev.address });
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      workflowBundle,
      dataConverter,
      shutdownGraceTime: '5 seconds',
      ...workerSizing(config.temporal.worker),
      ...workerOverrides,
    });
    const running = worker.run();
    const grpc = eager ? undefined : await Connection.connect({ address: dev.address });
    const client = new Client({ connection: eager ? nativeConnection : grpc!, dataConverter });

    const run = async (i: number) => {
      const handle = await client.workflow.start<typeof trivial>('trivial', {
        taskQueue,
        workflowId: `ceiling-${i}`,
        args: [{ n: i }],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        ...(eager ? { requestEagerStart: true } : {}),
      });
      await handle.result();
      return handle.eagerlyStarted;
    };
    // Warm-up: the first workflows pay the bundle's load and the connections' set-up.
    for (let i = 0; i < 8; i++) await run(-1 - i);

    const latencies: number[] = [];
    let eagerly = 0;
    let failures = 0;
    let next = 0;
    const serverCpu0 = cpuSecondsOf(dev.pid);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(concurrency, n) }, async () => {
        while (next < n) {
          const i = next++;
          const t = performance.now();
          try {
            if (await run(i)) eagerly++;
          } catch {
            failures++;
          }
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const serverCpu1 = cpuSecondsOf(dev.pid);
    latencies.sort((a, b) => a - b);
    const knobs = [
      memory
        ? 'state in memory, headless'
        : `state file, pragmas ${(sqlitePragmas ?? DEV_SERVER_SQLITE_PRAGMAS).join(' ') || 'none'}`,
      ...Object.entries(dynamicConfig).map(([k, v]) => `${k}=${JSON.stringify(v)}`),
      ...Object.entries(workerOverrides).map(([k, v]) => `worker ${k}=${JSON.stringify(v)}`),
    ];
    const server =
      serverCpu0 === null || serverCpu1 === null ? 'n/a' : `${(((serverCpu1 - serverCpu0) * 1000) / n).toFixed(1)} ms`;
    console.log(
      `temporal ceiling (${eager ? 'eager start' : 'plain start'}, ${Math.min(concurrency, n)} in flight` +
        `${codec ? ', codec' : ''}, ${knobs.join(', ')}): ${n} workflows in ` +
        `${seconds.toFixed(2)} s = ${(n / seconds).toFixed(1)} workflows/s, p50 ${pct(latencies, 50).toFixed(0)} ms, ` +
        `p99 ${pct(latencies, 99).toFixed(0)} ms, ${failures} failed, ${eagerly} eagerly started; CPU per workflow: ` +
        `node ${((cpu.user + cpu.system) / 1000 / n).toFixed(1)} ms, server ${server}; ` +
        `load ${loadavg()[0]!.toFixed(1)}`,
    );

    worker.shutdown();
    await running;
    await grpc?.close();
    await nativeConnection.close();
  } finally {
    await dev.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const noop = () => {};
const quiet = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
