/**
 * `GET /health` throughput: the embedded stack (`npm start` as a child process) against a bare `node:http` server
 * (another child process, answering a JSON body of the same size) on the same machine; prints ONE line with both
 * req/s and their ratio.
 *
 *   npm run bench:health -- [-c 32] [-d 15]
 */
import { spawn } from 'node:child_process';
import { freePort } from '../tests/helpers/embedded';
import { fmt, load, loadAverage, loadFlags, main, startStack } from './lib/reads';

const USAGE = `usage: npm run bench:health -- [-c|--connections N (32)] [-d|--duration seconds (15)]
GET /health of the embedded stack, then of a bare node:http server answering a body of the same size.`;

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
  let body: string;
  let stackFigures;
  try {
    body = await (await fetch(`${stack.url}/health`)).text();
    stackFigures = await load(`${stack.url}/health`, flags);
  } finally {
    await stack.stop();
  }
  const bare = await bareServer(body);
  let bareFigures;
  try {
    bareFigures = await load(bare.url, flags);
  } finally {
    await bare.stop();
  }
  console.log(
    `health -c ${flags.connections} -d ${flags.duration}: embedded ${fmt(stackFigures.reqPerSec)} req/s ` +
      `(p50 ${stackFigures.p50} ms, p99 ${stackFigures.p99} ms, ${stackFigures.errors} errors, ${stackFigures.non2xx} non-2xx); ` +
      `bare node:http ${fmt(bareFigures.reqPerSec)} req/s; ratio ${fmt((100 * stackFigures.reqPerSec) / bareFigures.reqPerSec, 1)} %; ` +
      `load avg ${loadAverage()}`,
  );
});
