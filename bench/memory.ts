/**
 * RSS of the control plane (API + worker, one `npm start` process; the Temporal dev server is not counted) with N
 * seeded agents, idle and under sustained list load, with V8 heap snapshots before and after the load and the
 * object groups that grew between them — where RSS growth under load comes from (issue #19 item 3).
 *
 *   npx tsx bench/memory.ts 1000                       # 1,000 agents, 60 s of GET /api/v1/agents
 *   options: --seconds <load duration, default 60>  --connections <default 32>  --path <default /api/v1/agents>
 *            --snapshots (write and diff heap snapshots; slow and memory-hungry on big heaps)
 *            --prebuilt (build the workflow bundle first and start with WORKFLOW_BUNDLE_PATH, as production does)
 *
 * Prints the RSS samples and one summary line; with --snapshots the top growing constructors (self size).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb } from '../core/db/connection';
import { freePorts, startEnv } from '../tests/helpers/embedded';
import { seedAgent } from '../tests/helpers/seed';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const strArg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};

const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process's own memory breakdown from its /metrics (prom-client default metrics), in MB. */
async function heapOf(base: string): Promise<string> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer bench-metrics' } })).text();
  const v = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? (Number(line.slice(line.lastIndexOf(' ') + 1)) / 2 ** 20).toFixed(0) : '?';
  };
  return (
    `heap used ${v('easyenclave_nodejs_heap_size_used_bytes')} / total ${v('easyenclave_nodejs_heap_size_total_bytes')}` +
    `, external ${v('easyenclave_nodejs_external_memory_bytes')} MB`
  );
}

/** `connections` keep-alive clients requesting `url` back to back for `seconds`; bodies are read in full. */
async function load(url: string, connections: number, seconds: number) {
  const until = Date.now() + seconds * 1000;
  let requests = 0;
  let non2xx = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) {
        // A keep-alive connection the server closes as a request leaves (ECONNRESET) counts as a failure.
        const status = await fetch(url).then(
          async (res) => (await res.arrayBuffer(), res.status),
          () => 599,
        );
        requests++;
        if (status >= 300) non2xx++;
      }
    }),
  );
  return { perSecond: requests / seconds, non2xx };
}

/** Self size per constructor/name of a .heapsnapshot (V8's JSON format), in bytes. */
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

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 1000);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error('usage: npx tsx bench/memory.ts <agents>');
  const seconds = arg('seconds', 60);
  const connections = arg('connections', 32);
  const path = strArg('path', '/api/v1/agents');
  const snapshots = process.argv.includes('--snapshots');

  const dataDir = mkdtempSync(join(tmpdir(), 'ee-bench-mem-'));
  const ports = await freePorts();
  const root = new URL('..', import.meta.url).pathname;
  const bundle = join(dataDir, 'workflow-bundle.js');
  if (process.argv.includes('--prebuilt')) {
    const build = spawn(process.execPath, ['--import', 'tsx', 'bin/build-workflows.ts', bundle], {
      cwd: root,
      stdio: 'ignore',
    });
    if ((await new Promise((r) => build.once('exit', r))) !== 0) throw new Error('npm run build:workflows failed');
  }
  const child = spawn(
    process.execPath,
    [...(snapshots ? ['--heapsnapshot-signal=SIGUSR2'] : []), '--import', 'tsx', 'bin/start.ts'],
    {
      cwd: new URL('..', import.meta.url).pathname,
      env: await startEnv(dataDir, ports, {
        ADMIN_PASSWORD: 'bench-password',
        METRICS_TOKEN: 'bench-metrics',
        WORKFLOW_BUNDLE_PATH: process.argv.includes('--prebuilt') ? bundle : '',
        RATELIMIT_ENABLED: 'false',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const pid = child.pid!;
  const snapshot = async (): Promise<string> => {
    const before = new Set(readdirSync(dataDir).filter((f) => f.endsWith('.heapsnapshot')));
    // Written into the child's cwd; moved aside by name below.
    const cwd = new URL('..', import.meta.url).pathname;
    const existing = new Set(readdirSync(cwd).filter((f) => f.endsWith('.heapsnapshot')));
    process.kill(pid, 'SIGUSR2');
    for (;;) {
      await sleep(500);
      const fresh = readdirSync(cwd).filter((f) => f.endsWith('.heapsnapshot') && !existing.has(f) && !before.has(f));
      // The file is complete once its size stops changing.
      if (fresh.length > 0) {
        const file = join(cwd, fresh[0]!);
        let size = -1;
        for (;;) {
          const s = statSync(file).size;
          if (s === size && s > 0) return file;
          size = s;
          await sleep(1000);
        }
      }
    }
  };
  const files: string[] = [];
  try {
    const deadline = Date.now() + 180_000;
    while (!output.includes('control plane is up')) {
      if (child.exitCode !== null) throw new Error(`start exited:\n${output}`);
      if (Date.now() > deadline) throw new Error(`start did not come up:\n${output}`);
      await sleep(200);
    }
    const upRss = rssMb(pid);
    const db = createDb({ filename: join(dataDir, 'easyenclave.db') });
    for (let i = 0; i < n; i++) await seedAgent(db, { vm_name: `bench-mem-${i}` });
    await db.destroy();
    const url = `http://127.0.0.1:${ports.api}${path}`;
    // Warm-up: the first requests build caches and compile the hot paths.
    await load(url, 4, 5);
    await sleep(2000);
    const idleRss = rssMb(pid);
    const idleHeap = await heapOf(`http://127.0.0.1:${ports.api}`);
    if (snapshots) files.push(await snapshot());
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssMb(pid)), 5000);
    const loaded = await load(url, connections, seconds);
    clearInterval(sampler);
    const loadedRss = rssMb(pid);
    await sleep(5000);
    const afterRss = rssMb(pid);
    const afterHeap = await heapOf(`http://127.0.0.1:${ports.api}`);
    if (snapshots) files.push(await snapshot());

    console.log(`RSS samples every 5 s under load (MB): ${samples.map((s) => s.toFixed(0)).join(' ')}`);
    console.log(`before the load: ${idleHeap}; after: ${afterHeap}`);
    console.log(
      `memory: ${n} agents, ${seconds} s of GET ${path} at c${connections} (${loaded.perSecond.toFixed(1)} req/s, ` +
        `${loaded.non2xx} non-2xx): RSS up ${upRss.toFixed(0)} MB, seeded+warm ${idleRss.toFixed(0)} MB, ` +
        `end of load ${loadedRss.toFixed(0)} MB, max ${Math.max(...samples, loadedRss).toFixed(0)} MB, ` +
        `5 s later ${afterRss.toFixed(0)} MB`,
    );
    if (snapshots) {
      const [a, b] = files.map(heapGroups) as [ReturnType<typeof heapGroups>, ReturnType<typeof heapGroups>];
      const total = (g: ReturnType<typeof heapGroups>) => [...g.values()].reduce((s, x) => s + x.size, 0) / 2 ** 20;
      console.log(`heap (snapshot self sizes): before load ${total(a).toFixed(1)} MB, after ${total(b).toFixed(1)} MB`);
      const grew = [...b.entries()]
        .map(([name, g]) => ({ name, d: g.size - (a.get(name)?.size ?? 0), dn: g.count - (a.get(name)?.count ?? 0) }))
        .sort((x, y) => y.d - x.d)
        .slice(0, 12);
      for (const g of grew)
        console.log(`  +${(g.d / 2 ** 20).toFixed(2)} MB  ${g.dn >= 0 ? '+' : ''}${g.dn}  ${g.name}`);
    }
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    for (const f of files) rmSync(f, { force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
