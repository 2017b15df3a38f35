/** Process entry of `ee`: wires stdout/stderr, Ctrl-C and the Ink UI into runCli. */
import { runCli } from './cli';

// A closed pipe (`ee list | head -1`) ends the output, not the process with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const abort = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts += 1;
  if (interrupts > 1) process.exit(130);
  abort.abort();
});

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  signal: abort.signal,
  startUi: async (ctx) => {
    const { startUi } = await import('./ui/start');
    return startUi(ctx);
  },
});
process.exitCode = code;
