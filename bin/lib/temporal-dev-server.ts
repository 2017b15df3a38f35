/**
 * Runs the pinned Temporal CLI's dev server as a child process (SQLite state under
 * data/, Web UI on :8233) for the embedded `start`, and stops it with the parent.
 */
import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../../core/logger';

export interface DevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

export async function startTemporalDevServer(opts: {
  cliPath: string;
  ip: string;
  port: number;
  uiPort: number;
  dbFilename: string;
  namespace: string;
  logger: Logger;
}): Promise<DevServer> {
  mkdirSync(dirname(opts.dbFilename), { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    opts.ip,
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--db-filename',
    opts.dbFilename,
    '--namespace',
    opts.namespace,
    '--log-level',
    'warn',
  ];
  opts.logger.info(`starting Temporal dev server: ${opts.cliPath} ${args.join(' ')}`);
  const child: ChildProcess = spawn(opts.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = opts.logger.child('temporal');
  child.stdout?.on('data', (d: Buffer) => d.toString().trim() && log.debug(d.toString().trim()));
  child.stderr?.on('data', (d: Buffer) => d.toString().trim() && log.warn(d.toString().trim()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const address = `${opts.ip}:${opts.port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(
        `Temporal dev server exited with code ${child.exitCode} (is port ${opts.port} or ${opts.uiPort} in use?)`,
      );
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`Temporal dev server did not answer on ${address} within 60 s`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { address, uiUrl: `http://${opts.ip === '0.0.0.0' ? 'localhost' : opts.ip}:${opts.uiPort}`, stop };
}
