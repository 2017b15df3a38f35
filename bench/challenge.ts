/**
 * `GET /api/v1/agents/challenge` throughput against the embedded stack (rate limits off: every request comes from
 * 127.0.0.1), each request for a fresh vm_name of a rotating set. Prints ONE line.
 *
 *   npm run bench:challenge -- [-c 32] [-d 15]
 */
import { fmt, load, loadAverage, loadFlags, main, startStack } from './lib/reads';

const USAGE = `usage: npm run bench:challenge -- [-c|--connections N (32)] [-d|--duration seconds (15)] [--vms N (1000)]
GET /api/v1/agents/challenge for a rotating set of vm_names (one nonce row each).`;

main(async () => {
  const flags = loadFlags(USAGE, { vms: 1000 });
  const stack = await startStack();
  try {
    const requests = Array.from({ length: flags.vms }, (_, i) => ({
      path: `/api/v1/agents/challenge?vm_name=bench-${i}`,
    }));
    const f = await load(stack.url, flags, { requests });
    const nonces = Number((await stack.db('agent_nonces').count({ n: '*' }).first())?.n);
    console.log(
      `challenge -c ${flags.connections} -d ${flags.duration}: ${fmt(f.reqPerSec)} req/s p50 ${f.p50} ms p99 ${f.p99} ms ` +
        `(${f.errors} errors, ${f.non2xx} non-2xx, ${nonces} nonce rows); load avg ${loadAverage()}`,
    );
  } finally {
    await stack.stop();
  }
});
