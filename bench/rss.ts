/**
 * Resident memory of the API + worker process (`npm start`'s Node process; the Temporal dev server, a separate Go
 * binary, is reported apart) with N seeded agents (default 10,000): idle after seeding, then after `--load` seconds
 * (default 60) of `GET /api/v1/agents` load — the unpaginated v1 list and the paginated one, alternating. Prints ONE
 * line.
 *
 *   npm run bench:rss -- [-c 32] [--load 60] [--agents 10000]
 */
import { descendantsRssMb, fmt, load, loadAverage, loadFlags, main, rssMb, seedAgents, startStack } from './lib/reads';

const USAGE = `usage: npm run bench:rss -- [-c|--connections N (32)] [--load seconds (60)] [--agents N (10000)]
RSS of the API + worker process with N seeded agents: idle, then after the list load.`;

main(async () => {
  const flags = loadFlags(USAGE, { agents: 10_000, load: 60 });
  const stack = await startStack();
  try {
    await seedAgents(stack.db, flags.agents);
    const temporalMb = () => descendantsRssMb(stack.pid, (cmd) => /temporal/.test(cmd) && /server/.test(cmd));
    await fetch(`${stack.url}/api/v1/agents?limit=1`);
    await new Promise((r) => setTimeout(r, 2000));
    const idle = rssMb(stack.pid);
    const requests = [{ path: '/api/v1/agents' }, { path: '/api/v1/agents?limit=100' }];
    const f = await load(stack.url, { connections: flags.connections, duration: flags.load }, { requests });
    const loaded = rssMb(stack.pid);
    await new Promise((r) => setTimeout(r, 5000));
    const after = rssMb(stack.pid);
    console.log(
      `rss ${flags.agents} agents: API+worker idle ${fmt(idle)} MB, after ${flags.load} s of list load ${fmt(loaded)} MB ` +
        `(5 s later ${fmt(after)} MB; ${fmt(f.reqPerSec, 1)} req/s, ${f.errors} errors); ` +
        `Temporal dev server ${fmt(temporalMb())} MB; load avg ${loadAverage()}`,
    );
  } finally {
    await stack.stop();
  }
});
