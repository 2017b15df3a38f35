/**
 * Shared parts of the read benchmarks (bench/health.ts, agents-list.ts, challenge.ts, rss.ts): the embedded stack as
 * `npm start` runs it (a child process: Temporal dev server, worker and API in one Node process, SQLite under a temp
 * data dir — tests/helpers/embedded.ts), agents seeded straight into its database, autocannon load from this
 * process, and the flags every one of them takes.
 */
import autocannon, { type Result } from 'autocannon';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { createDb } from '../../core/db/connection';
import { ROOT, freePorts, startEnv } from '../../tests/helpers/embedded';
import { startFakeAgent } from '../../tests/fakes/agent';

export interface LoadFlags {
  connections: number;
  duration: number;
}

/** `-c/--connections` (default 32) and `-d/--duration` seconds (default 15); `--help` prints `usage` and exits. */
export function loadFlags<K extends string = never>(
  usage: string,
  extra: Record<K, number> = {} as Record<K, number>,
): LoadFlags & Record<K, number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
  const value = (names: string[], fallback: number) => {
    const i = argv.findIndex((a) => names.includes(a));
    if (i < 0) return fallback;
    const v = Number(argv[i + 1]);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${names.join('/')} takes a positive number\n${usage}`);
    return v;
  };
  const out: Record<string, number> = {
    connections: value(['-c', '--connections'], 32),
    duration: value(['-d', '--duration'], 15),
  };
  for (const [name, fallback] of Object.entries<number>(extra)) out[name] = value([`--${name}`], fallback);
  return out as LoadFlags & Record<K, number>;
}

export interface Stack {
  url: string;
  /** The Node process of `npm start` (API + worker); the Temporal dev server is its child. */
  pid: number;
  db: Knex;
  stop(): Promise<void>;
}

/**
 * `npm start` (bin/start.ts) on free ports over a temp data dir, as tests/helpers/embedded.ts spawns it, plus
 * `node --cpu-prof --cpu-prof-dir=$BENCH_CPU_PROF` when that is set (a V8 CPU profile is written when it stops;
 * NODE_OPTIONS may not carry --cpu-prof).
 */
export async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ee-bench-reads-'));
  const ports = await freePorts();
  // The health sweep (every 30 s, over every agent) probes this fake instead of the seeded rows' made-up
  // hostnames: a healthy fleet, as production has, rather than thousands of failing DNS look-ups.
  const fakeAgent = await startFakeAgent();
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', 'bin/start.ts'], {
    cwd: ROOT,
    env: await startEnv(dataDir, ports, {
      ADMIN_PASSWORD: 'bench-password',
      // Every request comes from 127.0.0.1: the per-IP limits would be the only figure.
      RATELIMIT_ENABLED: 'false',
      AGENT_DIRECT_URL: fakeAgent.directUrlTemplate,
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    if (output.length < 100_000) output += d.toString();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGINT');
    await exited;
    await fakeAgent.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 300_000;
  while (!output.includes('control plane is up')) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`npm start did not come up:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const db = createDb({ filename: join(dataDir, 'easyenclave.db') });
  return {
    url: `http://127.0.0.1:${ports.api}`,
    pid: child.pid!,
    db,
    async stop() {
      await db.destroy();
      await stop();
    },
  };
}

/** A registered, verified agent row about the size of a real one (~2 KB of JSON in the list). */
export function agentRow(i: number, at: Date): Record<string, unknown> {
  const agent_id = randomUUID();
  const quote = Buffer.alloc(720, i % 251).toString('base64');
  return {
    agent_id,
    vm_name: `bench-vm-${i}`,
    status: 'undeployed',
    mrtd: 'a1'.repeat(48),
    rtmrs: JSON.stringify({
      rtmr0: 'b0'.repeat(48),
      rtmr1: 'b1'.repeat(48),
      rtmr2: 'b2'.repeat(48),
      rtmr3: '0'.repeat(96),
    }),
    attestation: JSON.stringify({ tdx: { quote_b64: quote, intel_ta_token: 'redacted-in-views' }, nonce: agent_id }),
    hostname: `agent-${agent_id}.example.com`,
    health_status: 'healthy',
    registered_at: new Date(at.getTime() + i).toISOString(),
    last_heartbeat: at.toISOString(),
    verified: true,
    node_size: 'tiny',
    datacenter: 'gcp:us-central1-a',
    stats: JSON.stringify({ cpu_percent: 3.5, memory_percent: 41.2, disk_percent: 12 }),
  };
}

export async function seedAgents(db: Knex, n: number): Promise<void> {
  const at = new Date();
  const rows = Array.from({ length: n }, (_, i) => agentRow(i, at));
  for (let i = 0; i < rows.length; i += 200) await db('agents').insert(rows.slice(i, i + 200));
}

export interface Figures {
  reqPerSec: number;
  p50: number;
  p99: number;
  /** Mean response size (headers included), bytes. */
  bytes: number;
  errors: number;
  non2xx: number;
}

export async function load(
  url: string,
  flags: LoadFlags,
  extra: { headers?: Record<string, string>; requests?: { path: string }[] } = {},
): Promise<Figures> {
  const r: Result = await autocannon({ url, connections: flags.connections, duration: flags.duration, ...extra });
  return {
    reqPerSec: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    bytes: r.requests.total > 0 ? r.throughput.total / r.requests.total : 0,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

/** Resident set size of a process, MB (Linux /proc). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Sum of the RSS of the descendants of `pid` whose command line `keep` accepts (e.g. the Temporal dev server). */
export function descendantsRssMb(pid: number, keep: (cmdline: string) => boolean): number {
  const childrenOf = (p: number): number[] => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  let total = 0;
  const walk = (p: number) => {
    for (const c of childrenOf(p)) {
      try {
        if (keep(readFileSync(`/proc/${c}/cmdline`, 'utf8').replace(/\0/g, ' '))) total += rssMb(c);
      } catch {
        continue;
      }
      walk(c);
    }
  };
  walk(pid);
  return total;
}

export const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

export const fmt = (n: number, digits = 0): string => n.toFixed(digits);

export function main(run: () => Promise<void>): void {
  run().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
