/**
 * `npm start` (bin/start.ts) as a child process for the e2e tests: free ports, a temp data dir, its console output,
 * and /proc look-ups of the Temporal processes that hold the data dir's state (nothing is signalled here except the
 * processes a test spawned itself).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Knex } from 'knex';
import { appendLedgerEntry } from '../../core/stores/ledger';
import { ensureServerBundle } from '../../scripts/build-server.mjs';
import { ensureTool } from '../../scripts/tools.mjs';
import { seedAccount, seedAgent } from './seed';
import { freePort } from '../../scripts/free-port.mjs';
export { freePort };

export const ROOT = new URL('../..', import.meta.url).pathname;

export interface Ports {
  api: number;
  temporal: number;
  ui: number;
}

export const freePorts = async (): Promise<Ports> => ({
  api: await freePort(),
  temporal: await freePort(),
  ui: await freePort(),
});

export interface Embedded {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** Resolves when the output contains `text` (default: the "up" banner); rejects if the process ends first. */
  waitFor(text?: string, timeoutMs?: number): Promise<void>;
}

/**
 * The environment of an `npm start` (bin/start.ts) on its own data dir and free ports, with its own embedded dev
 * server and SQLite: what the e2e tests and the bench/ scripts boot. `env` wins over the defaults.
 */
export async function startEnv(
  dataDir: string,
  ports: Ports,
  env: Record<string, string> = {},
): Promise<NodeJS.ProcessEnv> {
  return {
    ...process.env,
    TEMPORAL_CLI: await ensureTool('temporal', { log: () => {} }),
    TEMPORAL_ADDRESS: '',
    DATABASE_URL: '',
    EE_DATA_DIR: dataDir,
    PORT: String(ports.api),
    API_HOST: '127.0.0.1',
    TEMPORAL_DEV_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.ui),
    ADMIN_PASSWORD: 'e2e-password',
    ...env,
  };
}

/**
 * The node arguments that run `npm start`'s process: its server bundle (scripts/build-server.mjs, rebuilt here first
 * when the sources changed), as `npm start` runs it — not bin/start.ts under tsx.
 */
export async function startArgv(): Promise<string[]> {
  return [await ensureServerBundle()];
}

export async function spawnStart(dataDir: string, ports: Ports, env: Record<string, string> = {}): Promise<Embedded> {
  const child = spawn(process.execPath, await startArgv(), {
    cwd: ROOT,
    env: await startEnv(dataDir, ports, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async waitFor(text = 'control plane is up', timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes(text)) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`start ended before "${text}":\n${output}`);
        if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs / 1000} s:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

function argvOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** Pids whose command line mentions `needle` (the guard and the server both name the state file). */
export function pidsMentioning(needle: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => argvOf(pid)?.join(' ').includes(needle));
}

/** Pids of `temporal server start-dev` processes on this state file (not their guards). */
export function temporalServerPids(dbFile: string): number[] {
  return pidsMentioning(dbFile).filter((pid) => {
    const argv = argvOf(pid);
    return !!argv && basename(argv[0]!) === 'temporal' && argv.includes('start-dev');
  });
}

export function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may contain spaces, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function pidRecord(dataDir: string): { pid: number; guardPid: number; ownerPid: number } {
  return JSON.parse(readFileSync(join(dataDir, 'temporal.db.pid'), 'utf8'));
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** N running deployments of one funded deployer, each worth 100_000 µ$ for the hour before `chargeMs`. */
export async function seedRunningDeployments(
  db: Knex,
  n: number,
  chargeMs: number,
): Promise<{ payer: string; ids: string[]; deposit: number }> {
  const payer = (await seedAccount(db)).account_id;
  const deposit = n * 100_000 * 3;
  await appendLedgerEntry(db, { accountId: payer, amount: deposit, txType: 'deposit' });
  // Billing charges only deployments whose agent exists and holds no other deployment: one agent carries them all.
  await seedAgent(db, { agent_id: payer });
  const rows = Array.from({ length: n }, (_, i) => ({
    deployment_id: `e2e-${String(i).padStart(5, '0')}-${payer.slice(0, 8)}`,
    compose: 'c2VydmljZXM6IHt9',
    config: '{}',
    agent_id: payer,
    account_id: payer,
    status: 'running',
    created_at: new Date().toISOString(),
    started_at: new Date(chargeMs - 3_600_000).toISOString(),
  }));
  for (let i = 0; i < rows.length; i += 100) await db('deployments').insert(rows.slice(i, i + 100));
  return { payer, ids: rows.map((r) => r.deployment_id), deposit };
}

/** The hour's deployer rows of these deployments, as the ledger holds them. */
export async function hourDebits(db: Knex, ids: string[], hour: string) {
  const rows = (await db('transactions')
    .whereIn('reference_id', ids)
    .andWhere('ledger_key', 'like', `charge:%:${hour}:%`)
    .select('ledger_key', 'amount', 'tx_type')) as { ledger_key: string; amount: number | string; tx_type: string }[];
  return rows.map((r) => ({ ...r, amount: Number(r.amount) }));
}
