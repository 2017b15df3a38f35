/**
 * `GET /api/v1/agents/challenge` throughput against the embedded stack (rate limits off: every request comes from
 * 127.0.0.1), each request for a fresh vm_name of a rotating set. Prints ONE line.
 *
 *   npm run bench:challenge -- [-c 32] [-d 15] [-r 3]
 */
import { fmt, interleaved, loadAverage, loadFlags, loaderName, main, reqs, startStack } from './lib/reads';

const USAGE = `usage: npm run bench:challenge -- [-c|--connections N (32)] [-d|--duration seconds (15)] [-r|--runs N (3)] [--vms N (1000)]
GET /api/v1/agents/challenge for a rotating set of vm_names (one nonce row each).`;

main(async () => {
  const flags = loadFlags(USAGE, { vms: 1000 });
  const stack = await startStack();
  try {
    const requests = Array.from({ length: flags.vms }, (_, i) => ({
      path: `/api/v1/agents/challenge?vm_name=bench-${i}`,
    }));
    const [r] = await interleaved([{ url: stack.url, extra: { requests } }], flags);
    const f = r!.median;
    const nonces = Number((await stack.db('agent_nonces').count({ n: '*' }).first())?.n);
    console.log(
      `challenge ${loaderName()} -c ${flags.connections} -d ${flags.duration} (median of ${flags.runs}): ` +
        `${fmt(f.reqPerSec)} req/s p50 ${fmt(f.p50, 2)} ms p99 ${fmt(f.p99, 2)} ms (runs ${reqs(r!.runs)}; ` +
        `${f.errors} errors, ${f.non2xx} non-2xx, ${nonces} nonce rows); load avg ${loadAverage()}`,
    );
  } finally {
    await stack.stop();
  }
});
