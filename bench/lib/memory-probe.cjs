/**
 * Memory probe of bench/memory.ts, preloaded into the measured process with `--require` (NODE_OPTIONS). Every thread
 * it reaches — the main thread, and every worker thread started through `worker_threads.Worker` (the Temporal SDK's
 * workflow thread among them: the probe adds itself to their `execArgv`) — writes its `process.memoryUsage()` and
 * `v8.getHeapStatistics()` once a second to `$EE_MEMORY_PROBE_DIR/<pid>-<threadId>.json` (a rename, so a reader never
 * sees half a file). A heap snapshot covers the main thread only; this is how the workflow thread's heap is seen.
 * Module loaders' internal threads (tsx's hooks thread) are not reachable from here.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a `--require` preload is CommonJS */
'use strict';
const { renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const v8 = require('node:v8');
const workerThreads = require('node:worker_threads');

const dir = process.env.EE_MEMORY_PROBE_DIR;
if (dir) {
  const file = join(dir, `${process.pid}-${workerThreads.threadId}.json`);
  const write = () => {
    const sample = {
      pid: process.pid,
      threadId: workerThreads.threadId,
      main: workerThreads.isMainThread,
      // A worker thread without a name was started by Node itself (the module-loader hooks thread of tsx).
      name: process.env.EE_MEMORY_PROBE_THREAD ?? (workerThreads.isMainThread ? 'main' : 'internal: loader hooks?'),
      at: Date.now(),
      memoryUsage: process.memoryUsage(),
      heap: v8.getHeapStatistics(),
    };
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(sample));
      renameSync(`${file}.tmp`, file);
    } catch {
      // the directory went away with the bench: nothing to report to
    }
  };
  write();
  setInterval(write, 1000).unref();

  if (workerThreads.isMainThread) {
    const Original = workerThreads.Worker;
    // Explicit execArgv replaces the inherited one, and V8 flags (the heap bound) are refused there: V8 flags are
    // process-wide anyway, so the thread keeps them.
    workerThreads.Worker = class ProbedWorker extends Original {
      constructor(filename, options = {}) {
        const execArgv = (options.execArgv ?? []).concat(['--require', __filename]);
        const name = String(filename).split(/[\\/]/).pop();
        // The default env is a copy of the parent's: so is this one, with the thread's name for its samples.
        const shared = options.env === workerThreads.SHARE_ENV;
        const env = shared
          ? options.env
          : { ...(options.env ?? process.env), EE_MEMORY_PROBE_THREAD: options.eval ? '(eval)' : name };
        super(filename, { ...options, execArgv, env });
      }
    };
  }
}
