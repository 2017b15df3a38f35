/**
 * Parent-death guard of the embedded Temporal dev server (plain Node, no tsx: it starts in milliseconds).
 *
 *   node temporal-guard.mjs <temporal cli> <args…>     (spawned by bin/lib/temporal-dev-server.ts with an IPC channel)
 *
 * The Temporal CLI has no "exit with my parent" option, and a SIGKILLed `npm start` cannot stop its children. This
 * guard sits between them: it runs the CLI, reports the CLI's pid over the IPC channel, and stops the CLI as soon as
 * that channel closes, which the kernel does when the parent dies, however it dies. It exits with the CLI.
 */
import { spawn } from 'node:child_process';

const [cli, ...args] = process.argv.slice(2);
if (!cli || typeof process.send !== 'function') {
  process.stderr.write('temporal-guard: run me from the control plane with an IPC channel\n');
  process.exit(2);
}

const child = spawn(cli, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;
const stop = (why) => {
  if (stopping || child.exitCode !== null || child.signalCode !== null) return;
  stopping = true;
  process.stderr.write(`temporal-guard: ${why}; stopping Temporal dev server pid ${child.pid}\n`);
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 5000).unref();
};

child.once('spawn', () => process.send({ temporalPid: child.pid }));
child.once('error', (err) => {
  process.stderr.write(`temporal-guard: cannot run ${cli}: ${err.message}\n`);
  process.exit(127);
});
child.once('exit', (code, signal) => {
  if (!stopping) process.stderr.write(`temporal-guard: Temporal dev server ended (${signal ?? `code ${code}`})\n`);
  // Mirror the CLI's end so the parent can tell a crash (signal / non-zero) from a clean stop.
  process.exitCode = code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 1);
  process.disconnect?.();
});
process.on('disconnect', () => stop('parent is gone'));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
