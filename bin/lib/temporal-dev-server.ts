/**
 * Runs the pinned Temporal CLI's dev server as a child process (SQLite state under data/, Web UI on :8233) for the
 * embedded `start`, and owns it for real:
 *
 * - the CLI runs under a guard (temporal-guard.mjs) that stops it when this process dies, even by SIGKILL;
 * - its pid is recorded beside the state file (`<db>.pid`); a start first stops a stale server that still holds
 *   our state file (left by a crashed start) or refuses, naming the pid;
 * - a start refuses when the ports are taken, and checks that the server answering the probe is the child it
 *   started (on Linux: the listening socket belongs to that pid), so it never reports "up" against an orphan.
 */
import { Connection } from '@temporalio/client';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../core/logger';

const GUARD_PATH = fileURLToPath(new URL('./temporal-guard.mjs', import.meta.url));

export interface DevServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  /** Pid of the `temporal server start-dev` process (not of its guard). */
  pid: number;
  /** Settles when the server (its guard) ends, whatever the reason. */
  exited: Promise<DevServerExit>;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  cliPath: string;
  ip: string;
  port: number;
  uiPort: number;
  dbFilename: string;
  namespace: string;
  logger: Logger;
  /** How long to wait for the first answer; default 60 s. */
  readyTimeoutMs?: number;
  /** Dynamic config values on top of DEV_SERVER_DYNAMIC_CONFIG (`--dynamic-config-value KEY=<JSON>`), for benches. */
  dynamicConfig?: Record<string, unknown>;
  /**
   * Benches only: keep the state in memory (no `--db-filename`; `dbFilename` then only names the pid file) and
   * run without the Web UI (`--headless`).
   */
  inMemory?: boolean;
  /** SQLite pragmas of the state file (`--sqlite-pragma P=V`); default DEV_SERVER_SQLITE_PRAGMAS. */
  sqlitePragmas?: string[];
}

/**
 * Dynamic config every embedded dev server runs with. `system.enableEagerWorkflowStart`: registrations ask for eager
 * start (api/agent-gateway.ts) when the API shares its process with a worker; the server then hands the first
 * workflow task back in the StartWorkflowExecution answer instead of through a task-queue poll. The dev server of CLI
 * v1.5.1 already enables it; it is set here so the embedded start never depends on that default. A production
 * cluster must enable it itself (docs/production.md) — without it the start silently falls back to the normal path.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, unknown>> = {
  'system.enableEagerWorkflowStart': true,
};

/**
 * SQLite pragmas of the state file. The CLI's default journal fsyncs every commit, and a workflow is several
 * commits: on this machine's disk that, not CPU, was the dev server's ceiling (bench/temporal-ceiling.ts, docs/
 * performance.md). WAL with `synchronous=normal` fsyncs at checkpoints only: a crash of the server loses nothing
 * and never corrupts the file; an OS crash or power loss may roll back the last commits (the trade our own
 * database makes, core/db/connection.ts). `sqlitePragmas` replaces these.
 */
export const DEV_SERVER_SQLITE_PRAGMAS: readonly string[] = ['journal_mode=wal', 'synchronous=normal'];

/** What `<db>.pid` holds. */
interface PidRecord {
  pid: number;
  guardPid: number;
  ownerPid: number;
  address: string;
  startedAt: string;
}

export const pidFileOf = (dbFilename: string) => `${dbFilename}.pid`;

export async function startTemporalDevServer(options: DevServerOptions): Promise<DevServer> {
  // Absolute, so the stale-server check matches a server started from another working directory.
  const opts = { ...options, dbFilename: resolve(options.dbFilename) };
  mkdirSync(dirname(opts.dbFilename), { recursive: true });
  const pidFile = pidFileOf(opts.dbFilename);
  await stopStaleServer(opts, pidFile);
  for (const port of [opts.port, opts.uiPort]) {
    if (!(await portFree(opts.ip, port))) {
      throw new Error(
        `port ${opts.ip}:${port} is already in use by another process; stop it or choose TEMPORAL_DEV_PORT / TEMPORAL_UI_PORT`,
      );
    }
  }

  const args = [
    'server',
    'start-dev',
    '--ip',
    opts.ip,
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    ...(opts.inMemory ? ['--headless'] : ['--db-filename', opts.dbFilename]),
    '--namespace',
    opts.namespace,
    '--log-level',
    'warn',
    ...Object.entries({ ...DEV_SERVER_DYNAMIC_CONFIG, ...opts.dynamicConfig }).flatMap(([key, value]) => [
      '--dynamic-config-value',
      `${key}=${JSON.stringify(value)}`,
    ]),
    ...(opts.inMemory ? [] : (opts.sqlitePragmas ?? DEV_SERVER_SQLITE_PRAGMAS)).flatMap((p) => ['--sqlite-pragma', p]),
  ];
  opts.logger.info(`starting Temporal dev server: ${opts.cliPath} ${args.join(' ')}`);
  const guard: ChildProcess = spawn(process.execPath, [GUARD_PATH, opts.cliPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const log = opts.logger.child('temporal');
  let recent = '';
  guard.stdout?.on('data', (d: Buffer) => d.toString().trim() && log.debug(d.toString().trim()));
  guard.stderr?.on('data', (d: Buffer) => {
    const text = d.toString().trim();
    if (!text) return;
    recent = `${recent}\n${text}`.slice(-2000);
    log.warn(text);
  });
  const exited = new Promise<DevServerExit>((resolve) =>
    guard.once('exit', (code, signal) => {
      removePidFile(pidFile, guard.pid);
      resolve({ code, signal });
    }),
  );
  const ended = () => guard.exitCode !== null || guard.signalCode !== null;
  const stop = async () => {
    if (!ended()) {
      guard.kill('SIGTERM');
      const timer = setTimeout(() => guard.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    }
    removePidFile(pidFile, guard.pid);
  };

  const pid = await new Promise<number>((resolve, reject) => {
    guard.once('message', (m: { temporalPid?: number }) =>
      m.temporalPid ? resolve(m.temporalPid) : reject(new Error('guard sent no pid')),
    );
    guard.once('exit', () => reject(new Error(`Temporal dev server did not start:${recent || ' (no output)'}`)));
  });
  const record: PidRecord = {
    pid,
    guardPid: guard.pid!,
    ownerPid: process.pid,
    address: `${opts.ip}:${opts.port}`,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(pidFile, `${JSON.stringify(record)}\n`);

  const address = `${opts.ip}:${opts.port}`;
  const readyMs = opts.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + readyMs;
  for (;;) {
    if (ended()) {
      throw new Error(`Temporal dev server exited before answering on ${address}:${recent || ' (no output)'}`);
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`Temporal dev server did not answer on ${address} within ${readyMs / 1000} s`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  // The answer must come from our child, not from a server that took the port between the check and the bind.
  const holder = listeningPid(opts.port);
  if (ended() || (holder !== undefined && holder !== pid)) {
    await stop();
    throw new Error(
      `the server answering on ${address} is not the Temporal dev server this start launched` +
        (holder !== undefined ? ` (it is pid ${holder})` : ''),
    );
  }
  return {
    address,
    uiUrl: `http://${opts.ip === '0.0.0.0' ? 'localhost' : opts.ip}:${opts.uiPort}`,
    pid,
    exited,
    stop,
  };
}

function removePidFile(pidFile: string, guardPid: number | undefined): void {
  try {
    const rec = JSON.parse(readFileSync(pidFile, 'utf8')) as PidRecord;
    if (rec.guardPid === guardPid) rmSync(pidFile, { force: true });
  } catch {
    // absent or unreadable: nothing of ours to remove
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The command line of a pid: Linux /proc, else `ps` (macOS); undefined when the pid is gone. */
function cmdlineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    if (existsSync('/proc/self/cmdline')) return undefined;
  }
  try {
    return execFileSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Does this pid run a Temporal dev server on our state file (a reused pid is not taken for one)? */
function holdsState(pid: number, dbFilename: string): boolean {
  if (!alive(pid)) return false;
  const cmd = cmdlineOf(pid);
  return !!cmd && cmd.includes('start-dev') && cmd.includes(`--db-filename ${dbFilename}`);
}

/**
 * A crashed start (SIGKILL before its guard existed, or an older version without one) can leave a dev server
 * holding our state file and ports. Stop it: it is ours (the pid file and its command line say so) and serves
 * nobody else. A process we may not signal is reported by pid instead.
 */
async function stopStaleServer(opts: DevServerOptions, pidFile: string): Promise<void> {
  const candidates = new Set<number>();
  try {
    const rec = JSON.parse(readFileSync(pidFile, 'utf8')) as Partial<PidRecord>;
    if (typeof rec.pid === 'number') candidates.add(rec.pid);
  } catch {
    // no pid file
  }
  if (existsSync('/proc/self/cmdline')) {
    for (const d of readdirSync('/proc')) if (/^\d+$/.test(d)) candidates.add(Number(d));
  }
  for (const pid of candidates) {
    if (pid === process.pid || !holdsState(pid, opts.dbFilename)) continue;
    opts.logger.warn(
      `a Temporal dev server left by an earlier start (pid ${pid}) still holds ${opts.dbFilename}; stopping it`,
    );
    process.stdout.write(`Stopping a stale Temporal dev server (pid ${pid}) left by an earlier start…\n`);
    try {
      process.kill(pid, 'SIGTERM');
    } catch (err) {
      throw new Error(
        `a Temporal dev server (pid ${pid}) holds ${opts.dbFilename} and cannot be stopped (${(err as Error).message}); stop it and start again`,
      );
    }
    const deadline = Date.now() + 8000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
  }
  rmSync(pidFile, { force: true });
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** Pid of the process listening on a TCP port (Linux /proc); undefined when unknown. */
function listeningPid(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(f[1]!.split(':')[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${d}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${d}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(d);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}
