/**
 * Shared parts of the read benchmarks (bench/health.ts, agents-list.ts, challenge.ts, rss.ts): the embedded stack as
 * `npm start` runs it (a child process: Temporal dev server, worker and API in one Node process, SQLite under a temp
 * data dir — tests/helpers/embedded.ts), agents seeded straight into its database, the load generator, and the flags
 * every one of them takes.
 *
 * Load is driven the way issue #19 measured v1: `wrk -t1 -c<connections> -d<duration>s` (a separate process, so the
 * load generator is not the ceiling) when `wrk` is on PATH, else autocannon inside this process (its own ceiling:
 * ~12,000 req/s on this machine). `BENCH_LOADER=autocannon` forces the fallback.
 */
import autocannon, { type Result } from 'autocannon';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { createDb } from '../../core/db/connection';
import { ROOT, freePorts, startArgv, startEnv } from '../../tests/helpers/embedded';
import { startFakeAgent } from '../../tests/fakes/agent';

export interface LoadFlags {
  connections: number;
  duration: number;
  /** Runs per figure; the bench prints the median run (by req/s). */
  runs?: number;
}

/**
 * `-c/--connections` (default 32), `-d/--duration` seconds (default 15) and `-r/--runs` (default 3: the median of
 * three, as the issue measured); `--help` prints `usage` and exits.
 */
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
    runs: Math.round(value(['-r', '--runs'], 3)),
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
  try {
    return await startStackOnce(env);
  } catch (err) {
    // One more try on fresh ports and a fresh data dir, saying why the first failed (e.g. a port picked free that
    // something else bound before npm start listened on it).
    console.error(`bench: ${(err as Error).message.slice(-4000)}\nbench: retrying once on fresh ports`);
    return startStackOnce(env);
  }
}

async function startStackOnce(env: Record<string, string>): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ee-bench-reads-'));
  const ports = await freePorts();
  // The health sweep (every 30 s, over every agent) probes this fake instead of the seeded rows' made-up
  // hostnames: a healthy fleet, as production has, rather than thousands of failing DNS look-ups.
  const fakeAgent = await startFakeAgent();
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  // BENCH_TSX=1: bin/start.ts under tsx, as `npm start` ran before it ran a bundle (for comparisons).
  const entry = process.env.BENCH_TSX === '1' ? ['--import', 'tsx', 'bin/start.ts'] : await startArgv();
  const child = spawn(process.execPath, [...prof, ...entry], {
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

export interface LoadExtra {
  headers?: Record<string, string>;
  /** Paths requested in turn (each connection cycles through them); default: the path of `url`. */
  requests?: { path: string }[];
}

/** `wrk` on PATH (and not BENCH_LOADER=autocannon), else null. */
export function wrkPath(): string | null {
  if (process.env.BENCH_LOADER === 'autocannon') return null;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    try {
      accessSync(join(dir, 'wrk'), constants.X_OK);
      return join(dir, 'wrk');
    } catch {
      continue;
    }
  }
  return null;
}

export const loaderName = (): string => (wrkPath() ? 'wrk -t1' : 'autocannon');

/** A wrk Lua script: the given headers and paths (in turn), and a one-line JSON summary on stdout at the end. */
function wrkScript(extra: LoadExtra): string {
  const q = (s: string) => JSON.stringify(s);
  const headers = Object.entries(extra.headers ?? {})
    .map(([k, v]) => `wrk.headers[${q(k)}] = ${q(v)}`)
    .join('\n');
  const paths = extra.requests?.length
    ? `local paths = { ${extra.requests.map((r) => q(r.path)).join(', ')} }
local i = 0
request = function()
  i = (i % #paths) + 1
  return wrk.format(nil, paths[i])
end`
    : '';
  return `${headers}
${paths}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,' ..
    '"errors":%d,"non2xx":%d}\\n', summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
`;
}

async function loadWrk(wrk: string, url: string, flags: LoadFlags, extra: LoadExtra): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'ee-bench-wrk-'));
  const script = join(dir, 'bench.lua');
  writeFileSync(script, wrkScript(extra));
  try {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        wrk,
        ['-t1', `-c${flags.connections}`, `-d${flags.duration}s`, '--timeout', '10s', '-s', script, url],
        { maxBuffer: 1 << 20 },
        (err, out, errOut) => (err ? reject(new Error(`wrk failed: ${err.message}\n${errOut}`)) : resolve(out)),
      ),
    );
    const line = stdout.split('\n').find((l) => l.startsWith('WRK_JSON '));
    if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
    const r = JSON.parse(line.slice('WRK_JSON '.length)) as Record<string, number>;
    return {
      reqPerSec: r.requests! / (r.duration_us! / 1e6),
      p50: r.p50_us! / 1000,
      p99: r.p99_us! / 1000,
      // wrk counts response bytes (headers included) over all requests.
      bytes: r.requests! > 0 ? r.bytes! / r.requests! : 0,
      errors: r.errors!,
      non2xx: r.non2xx!,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One load run of `flags.duration` seconds at `flags.connections` (wrk when available, else autocannon). */
export async function load(url: string, flags: LoadFlags, extra: LoadExtra = {}): Promise<Figures> {
  const wrk = wrkPath();
  if (wrk) return loadWrk(wrk, url, flags, extra);
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

/** The run with the median req/s of several (odd counts pick the middle one; even ones the lower middle). */
export function median(runs: readonly Figures[]): Figures {
  const sorted = [...runs].sort((a, b) => a.reqPerSec - b.reqPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/**
 * `flags.runs` rounds of every target in turn (interleaved: A B A B A B, so a burst of load from elsewhere on the
 * machine hits each target alike), and the median run of each.
 */
export async function interleaved(
  targets: readonly { url: string; extra?: LoadExtra }[],
  flags: LoadFlags,
): Promise<{ median: Figures; runs: Figures[] }[]> {
  const out = targets.map(() => [] as Figures[]);
  for (let round = 0; round < (flags.runs ?? 3); round++) {
    for (const [i, t] of targets.entries()) out[i]!.push(await load(t.url, flags, t.extra ?? {}));
  }
  return out.map((runs) => ({ median: median(runs), runs }));
}

export const reqs = (runs: readonly Figures[]): string => runs.map((f) => fmt(f.reqPerSec)).join('/');

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
