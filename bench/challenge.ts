/**
 * `GET /api/v1/agents/challenge` throughput against the embedded stack (rate limits off: every request comes from
 * 127.0.0.1), each request for a fresh vm_name of a rotating set. Prints ONE line: req/s, latency, and the CPU the
 * stack's node process (API + worker, all threads; /proc/<pid>/stat) spent per answered request over the runs —
 * steadier than req/s on a shared machine.
 *
 *   npm run bench:challenge -- [-c 32] [-d 15] [-r 3]
 */
import { readFileSync } from 'node:fs';
import {
  fmt,
  load,
  loadAverage,
  loadFlags,
  loaderName,
  main,
  median,
  reqs,
  startStack,
  type Figures,
} from './lib/reads';

const USAGE = `usage: npm run bench:challenge -- [-c|--connections N (32)] [-d|--duration seconds (15)] [-r|--runs N (3)] [--vms N (1000)]
GET /api/v1/agents/challenge for a rotating set of vm_names (one nonce row each).`;

/** User + system CPU of a process so far, ms (fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

main(async () => {
  const flags = loadFlags(USAGE, { vms: 1000 });
  const stack = await startStack();
  try {
    const requests = Array.from({ length: flags.vms }, (_, i) => ({
      path: `/api/v1/agents/challenge?vm_name=bench-${i}`,
    }));
    const url = `${stack.url}/api/v1/agents/challenge?vm_name=bench-0`;
    const runs: Figures[] = [];
    let cpu = 0;
    let answered = 0;
    for (let i = 0; i < (flags.runs ?? 3); i++) {
      const before = cpuMs(stack.pid);
      const f = await load(url, flags, { requests });
      cpu += cpuMs(stack.pid) - before;
      answered += f.reqPerSec * flags.duration;
      runs.push(f);
    }
    const f = median(runs);
    const nonces = Number((await stack.db('agent_nonces').count({ n: '*' }).first())?.n);
    console.log(
      `challenge ${loaderName()} -c ${flags.connections} -d ${flags.duration} (median of ${flags.runs}): ` +
        `${fmt(f.reqPerSec)} req/s p50 ${fmt(f.p50, 2)} ms p99 ${fmt(f.p99, 2)} ms (runs ${reqs(runs)}; ` +
        `${f.errors} errors, ${f.non2xx} non-2xx, ${nonces} nonce rows); ` +
        `CPU ${fmt((1000 * cpu) / Math.max(1, answered), 1)} µs/req (API + worker process); load avg ${loadAverage()}`,
    );
  } finally {
    await stack.stop();
  }
});
