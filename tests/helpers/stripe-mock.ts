/**
 * stripe-mock (github.com/stripe/stripe-mock) on a free loopback port, once per test file. Point the control plane at
 * it with `STRIPE_API_URL=<url>`; stripe-node's host/port/protocol are taken from that setting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ensureTool } from '../../scripts/tools.mjs';
import { freePort } from '../../scripts/free-port.mjs';

export interface StripeMock {
  /** `http://127.0.0.1:<port>` */
  url: string;
  stop(): Promise<void>;
}

async function waitUntilUp(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`stripe-mock exited with code ${child.exitCode}`);
    try {
      // Any HTTP answer (401 without a key) means it is listening.
      await fetch(`${url}/v1/balance`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`stripe-mock did not start at ${url}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startStripeMock(): Promise<StripeMock> {
  const bin = await ensureTool('stripe-mock', { log: () => {} });
  const port = await freePort();
  const child = spawn(bin, ['-http-addr', `127.0.0.1:${port}`, '-https-addr', '127.0.0.1:'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(url, child, 15_000);
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
