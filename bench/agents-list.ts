/**
 * `GET /api/v1/agents` with N seeded agents (default 1,000) against the embedded stack: unpaginated (the v1 shape,
 * every agent in one body), then paginated (`limit=100`, each connection walking the pages in turn with the
 * `next_cursor` links), then the unpaginated list again with `If-None-Match` (304s). Prints ONE line, with the CPU
 * time of the stack's Node process (API + worker, all threads, /proc/<pid>/stat) per request of each run.
 *
 *   npm run bench:agents-list -- [-c 32] [-d 15] [-r 3] [--agents 1000] [--limit 100]
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
  seedAgents,
  startStack,
  type Figures,
} from './lib/reads';

const USAGE = `usage: npm run bench:agents-list -- [-c|--connections N (32)] [-d|--duration seconds (15)] [-r|--runs N (3)] [--agents N (1000)] [--limit N (100)]
GET /api/v1/agents with N seeded agents: unpaginated, paginated (limit, walking next_cursor), and conditional (304).`;

/** User + system CPU of a process so far, ms (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

type Measured = Figures & { cpuMsPerReq: number };

const show = (name: string, r: { median: Measured; runs: Measured[] }) => {
  const f = r.median;
  return (
    `${name} ${fmt(f.reqPerSec)} req/s p50 ${fmt(f.p50, 2)} ms p99 ${fmt(f.p99, 2)} ms ${fmt(f.bytes)} B/resp ` +
    `${fmt(f.cpuMsPerReq, 3)} ms CPU/req ` +
    `(runs ${reqs(r.runs)})` +
    (f.errors + f.non2xx > 0 ? ` (${f.errors} errors, ${f.non2xx} non-2xx)` : '')
  );
};

main(async () => {
  const flags = loadFlags(USAGE, { agents: 1000, limit: 100 });
  const stack = await startStack();
  try {
    await seedAgents(stack.db, flags.agents);
    const url = `${stack.url}/api/v1/agents`;
    const full = await fetch(url);
    const etag = full.headers.get('etag') ?? '';
    const { total } = (await full.json()) as { total: number };
    if (total !== flags.agents) throw new Error(`listed ${total} agents, seeded ${flags.agents}`);

    // The page paths, walked once up front: each connection cycles through them like a client paging through.
    const paths: { path: string }[] = [];
    for (let cursor: string | null = ''; cursor !== null;) {
      const path: string = `/api/v1/agents?limit=${flags.limit}${cursor ? `&cursor=${cursor}` : ''}`;
      paths.push({ path });
      cursor = ((await (await fetch(`${stack.url}${path}`)).json()) as { next_cursor: string | null }).next_cursor;
    }

    // Rounds by hand rather than interleaved(): the conditional run takes the list's current ETag, fetched just
    // before it (the health sweep refreshes every agent's last_health_check every 30 s, which is a new ETag, as a
    // polling client would learn from the 200 it then gets).
    const measured = async (...args: Parameters<typeof load>): Promise<Measured> => {
      const before = cpuMs(stack.pid);
      const f = await load(...args);
      const requests = Math.max(1, f.reqPerSec * flags.duration);
      return { ...f, cpuMsPerReq: (cpuMs(stack.pid) - before) / requests };
    };
    const runs = { unpaginated: [] as Measured[], paginated: [] as Measured[], conditional: [] as Measured[] };
    for (let round = 0; round < (flags.runs ?? 3); round++) {
      runs.unpaginated.push(await measured(url, flags));
      runs.paginated.push(await measured(stack.url, flags, { requests: paths }));
      const current = (await fetch(url)).headers.get('etag') ?? etag;
      runs.conditional.push(await measured(url, flags, { headers: { 'if-none-match': current } }));
    }
    const [unpaginated, paginated, conditional] = [runs.unpaginated, runs.paginated, runs.conditional].map((r) => ({
      median: median(r) as Measured,
      runs: r,
    }));
    console.log(
      `agents-list ${flags.agents} agents ${loaderName()} -c ${flags.connections} -d ${flags.duration} ` +
        `(median of ${flags.runs}): ${show('unpaginated', unpaginated!)}; ` +
        `${show(`paginated limit=${flags.limit} (${paths.length} pages)`, paginated!)}; ` +
        `${show('If-None-Match', conditional!)}; load avg ${loadAverage()}`,
    );
  } finally {
    await stack.stop();
  }
});
