/**
 * Subprocesses: one-shot commands with a timeout (docker compose) and supervised long-running ones (cloudflared,
 * `compose logs -f`) restarted with capped backoff. Failures are CommandError with a kind, and stderr kept.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { backoffDelay, type BackoffPolicy } from './backoff';
import { errorText, type AgentLogger } from './log';

export type CommandErrorKind = 'exit' | 'timeout' | 'spawn' | 'aborted';

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly kind: CommandErrorKind,
    message: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

const MAX_CAPTURE = 256 * 1024;

/** Runs a command to completion; non-zero exit, timeout, spawn failure or abort → CommandError. */
export function runCommand(
  cmd: string,
  args: string[],
  opts: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs: number;
    signal?: AbortSignal;
    onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  },
): Promise<RunResult> {
  const display = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    let timedOut = false;
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      reject(new CommandError('spawn', `cannot run ${display}: ${errorText(err)}`, null, '', ''));
      return;
    }
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (stream === 'stdout') stdout = (stdout + text).slice(-MAX_CAPTURE);
      else stderr = (stderr + text).slice(-MAX_CAPTURE);
      if (opts.onLine) for (const l of text.split('\n')) if (l.trim()) opts.onLine(l, stream);
    };
    child.stdout?.on('data', collect('stdout'));
    child.stderr?.on('data', collect('stderr'));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (err: CommandError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve({ stdout, stderr });
    };
    child.on('error', (err) =>
      finish(new CommandError('spawn', `cannot run ${display}: ${errorText(err)}`, null, stdout, stderr)),
    );
    child.on('close', (code, sig) => {
      if (timedOut)
        return finish(
          new CommandError('timeout', `${display} timed out after ${opts.timeoutMs} ms`, null, stdout, stderr),
        );
      if (opts.signal?.aborted)
        return finish(new CommandError('aborted', `${display} was cancelled`, null, stdout, stderr));
      if (code === 0) return finish(null);
      const tail = stderr.trim().slice(-2000) || stdout.trim().slice(-2000);
      finish(
        new CommandError(
          'exit',
          `${display} failed (${code === null ? `signal ${sig}` : `exit ${code}`})${tail ? `: ${tail}` : ''}`,
          code,
          stdout,
          stderr,
        ),
      );
    });
  });
}

export interface Supervised {
  /** Number of times the process was (re)started. */
  readonly starts: number;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Keeps `cmd` running: on exit it is restarted after a capped exponential backoff (reset once a run lasted
 * `stableMs`), each exit and restart logged. `stop()` ends it for good (SIGTERM, then SIGKILL after 5 s).
 */
export function supervise(opts: {
  name: string;
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  log: AgentLogger;
  backoff: BackoffPolicy;
  stableMs?: number;
  onLine?: (line: string) => void;
}): Supervised {
  let child: ChildProcess | undefined;
  let starts = 0;
  let failures = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = () => {
    if (stopped) return;
    starts += 1;
    const startedAt = Date.now();
    const c = spawn(opts.cmd, opts.args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    const forward = (chunk: Buffer) => {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (!l.trim()) continue;
        if (opts.onLine) opts.onLine(l);
        else opts.log.info(`${opts.name}: ${l}`);
      }
    };
    c.stdout?.on('data', forward);
    c.stderr?.on('data', forward);
    opts.log.info(`${opts.name} started (pid ${c.pid ?? '?'}, start #${starts})`);
    let resolveExit!: () => void;
    exited = new Promise((r) => (resolveExit = r));
    let done = false;
    const onEnd = (what: string) => {
      if (done) return;
      done = true;
      resolveExit();
      if (stopped) return;
      if (Date.now() - startedAt >= (opts.stableMs ?? 60_000)) failures = 0;
      failures += 1;
      const delay = backoffDelay(opts.backoff, failures);
      opts.log.warn(`${opts.name} ${what}; restarting in ${delay} ms (failure ${failures})`);
      timer = setTimeout(start, delay);
    };
    c.on('error', (err) => onEnd(`could not start: ${errorText(err)}`));
    c.on('exit', (code, sig) => onEnd(`exited (${code === null ? `signal ${sig}` : `code ${code}`})`));
  };
  start();

  return {
    get starts() {
      return starts;
    },
    get pid() {
      return child?.pid;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        const kill = setTimeout(() => c.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(kill);
      }
    },
  };
}
