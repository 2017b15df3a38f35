/**
 * Resident memory of the control plane — `npm start`'s one Node process, API + worker (the Temporal dev server, a
 * separate Go binary, is reported apart) — with N seeded agents (default 10,000): idle after seeding, then under
 * `--load` seconds (default 60) of `GET /api/v1/agents` (the unpaginated v1 list and the paginated one, alternating),
 * sampled every second. Prints ONE line: idle RSS, RSS at the end of the load and 5 s later, the maximum during the
 * load, req/s, errors, and the V8 heap used (from the process's own /metrics) before and after.
 *
 *   npm run bench:memory -- [-c 32] [--load 60] [--agents 10000] [--unbounded] [--before] [--snapshots <dir>]
 *   (`npm run bench:rss` is the same bench.)
 *
 * The stack runs as `npm start` runs it: the server bundle (dist/server/start.mjs) under plain node with the heap
 * bound (`--max-old-space-size=$EE_MAX_OLD_SPACE_MB` (256) `--max-semi-space-size=$EE_MAX_SEMI_SPACE_MB` (4), passed
 * as NODE_OPTIONS since the bench spawns the process itself) and glibc's `MALLOC_ARENA_MAX=2`
 * `MALLOC_MMAP_THRESHOLD_=131072`; `--unbounded` leaves V8's and glibc's defaults, and other `NODE_OPTIONS` of the
 * environment reach the stack too. `--before` runs it as `npm start` did before the memory work of issue #19's end
 * (bin/start.ts under tsx, glibc's dynamic mmap threshold, SQLite's page cache at better-sqlite3's 16 MB) for a
 * back-to-back comparison. The breakdown (stderr) comes from bench/lib/memory-probe.cjs, preloaded with `--require`.
 * `--snapshots <dir>` also writes V8 heap snapshots of the main thread (idle and after the load) into <dir> and
 * prints the largest and the most grown constructors (slow: minutes per snapshot on a busy machine).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendantsRssMb, fmt, load, loadAverage, loadFlags, main, rssMb, seedAgents, startStack } from './lib/reads';

const USAGE = `usage: npm run bench:memory -- [-c|--connections N (32)] [--load seconds (60)] [--agents N (10000)]
       [--unbounded] [--before] [--snapshots <dir>]
RSS of the API + worker process with N seeded agents: idle, then under list load (max, end, 5 s later).`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PROBE = fileURLToPath(new URL('./lib/memory-probe.cjs', import.meta.url));
const mb = (b: number) => (b / 2 ** 20).toFixed(1);

interface ProbeSample {
  pid: number;
  threadId: number;
  main: boolean;
  name: string;
  memoryUsage: NodeJS.MemoryUsage;
  heap: { used_heap_size: number; total_heap_size: number; malloced_memory: number; heap_size_limit: number };
}

/** `Key: N kB` lines of a /proc file, MB. */
function procKb(file: string, keys: string[]): Record<string, number> {
  const text = readFileSync(file, 'utf8');
  const out: Record<string, number> = {};
  for (const k of keys) {
    const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text);
    if (m) out[k] = Number(m[1]) / 1024;
  }
  return out;
}

/**
 * Where the process's RSS is (stderr, a few lines): /proc status and smaps_rollup, its threads by name, and per
 * JavaScript thread (main, the workflow thread) the V8 heap and the memory outside it, from bench/lib/memory-probe.cjs.
 */
function breakdown(label: string, pid: number, probeDir: string): void {
  const status = procKb(`/proc/${pid}/status`, ['VmRSS', 'RssAnon', 'RssFile', 'RssShmem']);
  const rollup = procKb(`/proc/${pid}/smaps_rollup`, ['Private_Clean', 'Private_Dirty', 'Shared_Clean', 'Anonymous']);
  const threads = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const name = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8')
      .trim()
      .replace(/[-_]?\d+$/, '#');
    threads.set(name, (threads.get(name) ?? 0) + 1);
  }
  const f = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ');
  console.error(`[${label}] status (MB): ${f(status)}; smaps_rollup: ${f(rollup)}`);
  console.error(`[${label}] threads: ${[...threads].map(([n, c]) => (c > 1 ? `${n}×${c}` : n)).join(' ')}`);
  for (const file of readdirSync(probeDir).filter((n) => n.startsWith(`${pid}-`) && n.endsWith('.json'))) {
    const s = JSON.parse(readFileSync(join(probeDir, file), 'utf8')) as ProbeSample;
    const u = s.memoryUsage;
    console.error(
      `[${label}] ${s.main ? 'main thread' : `worker thread ${s.threadId} (${s.name})`}: heap used ${mb(s.heap.used_heap_size)} / ` +
        `total ${mb(s.heap.total_heap_size)} (limit ${mb(s.heap.heap_size_limit)}), malloced ${mb(s.heap.malloced_memory)}, ` +
        `external ${mb(u.external)}, arrayBuffers ${mb(u.arrayBuffers)}`,
    );
  }
  const esbuild = descendantsRssMb(pid, (cmd) => /esbuild/.test(cmd));
  if (esbuild > 0) console.error(`[${label}] esbuild child processes (not in the figure): ${esbuild.toFixed(1)} MB`);
}
const METRICS_TOKEN = 'bench-metrics';

/** V8 heap used and total (MB) from the stack's /metrics (prom-client default metrics). */
async function heapOf(url: string): Promise<{ used: number; total: number; external: number }> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await res.text();
  const v = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) / 2 ** 20 : NaN;
  };
  return {
    used: v('easyenclave_nodejs_heap_size_used_bytes'),
    total: v('easyenclave_nodejs_heap_size_total_bytes'),
    external: v('easyenclave_nodejs_external_memory_bytes'),
  };
}

/** SIGUSR2 → a .heapsnapshot in `dir` (`--heapsnapshot-signal`, `--diagnostic-dir`); resolves once it is complete. */
async function snapshot(pid: number, dir: string): Promise<string> {
  const existing = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  for (;;) {
    await sleep(1000);
    const fresh = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !existing.has(f));
    if (!fresh) continue;
    const file = join(dir, fresh);
    let size = -1;
    for (;;) {
      const s = statSync(file).size;
      if (s === size && s > 0) return file;
      size = s;
      await sleep(2000);
    }
  }
}

/** Self size and count per constructor (objects, closures) or node type (strings, code, …) of a heap snapshot. */
function heapGroups(file: string): Map<string, { size: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const f = snap.snapshot.meta.node_fields;
  const [typeI, nameI, sizeI, width] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size'), f.length];
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeI]!]!;
    const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + nameI]!]! : `(${type})`;
    const g = out.get(name) ?? { size: 0, count: 0 };
    g.size += snap.nodes[i + sizeI]!;
    g.count += 1;
    out.set(name, g);
  }
  return out;
}

function printSnapshots(before: string, after: string): void {
  const [a, b] = [heapGroups(before), heapGroups(after)];
  const total = (g: typeof a) => [...g.values()].reduce((s, x) => s + x.size, 0);
  console.error(`heap snapshots (self sizes): idle ${mb(total(a))} MB, after the load ${mb(total(b))} MB`);
  console.error('largest groups when idle:');
  for (const [name, g] of [...a.entries()].sort((x, y) => y[1].size - x[1].size).slice(0, 15))
    console.error(`  ${mb(g.size)} MB  ${g.count}  ${name}`);
  console.error('grew most during the load:');
  const grew = [...b.entries()]
    .map(([name, g]) => ({ name, d: g.size - (a.get(name)?.size ?? 0), dn: g.count - (a.get(name)?.count ?? 0) }))
    .sort((x, y) => y.d - x.d)
    .slice(0, 10);
  for (const g of grew) console.error(`  +${mb(g.d)} MB  ${g.dn >= 0 ? '+' : ''}${g.dn}  ${g.name}`);
}

main(async () => {
  const argv = process.argv.slice(2);
  const snapIndex = argv.indexOf('--snapshots');
  const snapDir = snapIndex >= 0 ? resolve(argv[snapIndex + 1] ?? '') : undefined;
  const flags = loadFlags(USAGE, { agents: 10_000, load: 60 });
  const before = argv.includes('--before');
  if (before) process.env.BENCH_TSX = '1';
  if (snapDir) mkdirSync(snapDir, { recursive: true });
  const heapBound = argv.includes('--unbounded')
    ? ''
    : `--max-old-space-size=${process.env.EE_MAX_OLD_SPACE_MB || 256} ` +
      `--max-semi-space-size=${process.env.EE_MAX_SEMI_SPACE_MB || 4}`;
  const probeDir = mkdtempSync(join(tmpdir(), 'ee-bench-memory-'));
  const nodeOptions = [
    heapBound,
    `--require ${PROBE}`,
    process.env.NODE_OPTIONS ?? '',
    snapDir ? `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapDir}` : '',
  ]
    .join(' ')
    .trim();
  const stack = await startStack({
    METRICS_TOKEN,
    EE_MEMORY_PROBE_DIR: probeDir,
    ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    ...(heapBound ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX || '2' } : {}),
    ...(heapBound && !before ? { MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ || '131072' } : {}),
    ...(before ? { SQLITE_CACHE_KIB: '16000' } : {}),
  });
  try {
    await seedAgents(stack.db, flags.agents);
    const temporalMb = () => descendantsRssMb(stack.pid, (cmd) => /temporal/.test(cmd) && /server/.test(cmd));
    // One request of each kind before measuring idle: routes compiled, connection pools open.
    await fetch(`${stack.url}/api/v1/agents?limit=1`).then((r) => r.arrayBuffer());
    await sleep(5000);
    const idle = rssMb(stack.pid);
    const idleHeap = await heapOf(stack.url);
    breakdown('idle', stack.pid, probeDir);
    const snaps: string[] = [];
    if (snapDir) snaps.push(await snapshot(stack.pid, snapDir));
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssMb(stack.pid)), 1000);
    const requests = [{ path: '/api/v1/agents' }, { path: '/api/v1/agents?limit=100' }];
    const f = await load(stack.url, { connections: flags.connections, duration: flags.load }, { requests });
    clearInterval(sampler);
    // Flat or growing: the samples of every 10th second of the load.
    console.error(
      `[load] RSS every 10 s (MB): ${samples
        .filter((_, i) => i % 10 === 9)
        .map((v) => fmt(v))
        .join(' ')}`,
    );
    const loaded = rssMb(stack.pid);
    await sleep(1100); // a probe sample from after the load
    breakdown('end of load', stack.pid, probeDir);
    await sleep(3900);
    const after = rssMb(stack.pid);
    const afterHeap = await heapOf(stack.url);
    if (snapDir) snaps.push(await snapshot(stack.pid, snapDir));
    console.log(
      `memory ${flags.agents} agents${heapBound ? '' : ' (unbounded heap)'}${before ? ' (--before)' : ''}: API+worker RSS idle ${fmt(idle)} MB, after ${flags.load} s of list load ` +
        `${fmt(loaded)} MB (max ${fmt(Math.max(loaded, ...samples))} MB, 5 s later ${fmt(after)} MB); ` +
        `${fmt(f.reqPerSec, 1)} req/s, ${f.errors} errors, ${f.non2xx} non-2xx; ` +
        `heap used ${fmt(idleHeap.used)} → ${fmt(afterHeap.used)} MB (total ${fmt(afterHeap.total)}, external ` +
        `${fmt(afterHeap.external)}); Temporal dev server ${fmt(temporalMb())} MB; load avg ${loadAverage()}`,
    );
    if (snaps.length === 2) printSnapshots(snaps[0]!, snaps[1]!);
  } finally {
    await stack.stop();
    rmSync(probeDir, { recursive: true, force: true });
  }
});
