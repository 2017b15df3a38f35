/**
 * `GET /health` throughput: the embedded stack (`npm start` as a child process) against a bare `node:http` server
 * (another child process, answering a JSON body of the same size) on the same machine, both up at once and loaded in
 * turn (`--runs` rounds, interleaved); prints ONE line with the medians and their ratio.
 *
 *   npm run bench:health -- [-c 32] [-d 15] [-r 3]
 */
import { spawn } from 'node:child_process';
import { freePort } from '../tests/helpers/embedded';
import { fmt, interleaved, loadAverage, loadFlags, loaderName, main, reqs, startStack } from './lib/reads';

const USAGE = `usage: npm run bench:health -- [-c|--connections N (32)] [-d|--duration seconds (15)] [-r|--runs N (3)]
GET /health of the embedded stack and of a bare node:http server answering a body of the same size, interleaved.`;

/** A bare node:http server in its own process (as the stack is), answering `body` to every request. */
async function bareServer(body: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const code =
    `const b = Buffer.from(process.env.BODY);` +
    `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'application/json; charset=utf-8');` +
    ` s.end(b); }).listen(${port}, '127.0.0.1', () => console.log('up'));`;
  const child = spawn(process.execPath, ['-e', code], { env: { ...process.env, BODY: body }, stdio: 'pipe' });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`bare server exited ${c}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/health`,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

main(async () => {
  const flags = loadFlags(USAGE);
  const stack = await startStack();
  try {
    const body = await (await fetch(`${stack.url}/health`)).text();
    const bare = await bareServer(body);
    try {
      const [embedded, node] = await interleaved([{ url: `${stack.url}/health` }, { url: bare.url }], flags);
      const e = embedded!.median;
      console.log(
        `health ${loaderName()} -c ${flags.connections} -d ${flags.duration} (median of ${flags.runs}): embedded ` +
          `${fmt(e.reqPerSec)} req/s (p50 ${fmt(e.p50, 2)} ms, p99 ${fmt(e.p99, 2)} ms, ${e.errors} errors, ` +
          `${e.non2xx} non-2xx; runs ${reqs(embedded!.runs)}); bare node:http ${fmt(node!.median.reqPerSec)} req/s ` +
          `(runs ${reqs(node!.runs)}); ratio ${fmt((100 * e.reqPerSec) / node!.median.reqPerSec, 1)} %; ` +
          `load avg ${loadAverage()}`,
      );
    } finally {
      await bare.stop();
    }
  } finally {
    await stack.stop();
  }
});
