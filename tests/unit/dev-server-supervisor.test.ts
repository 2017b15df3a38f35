/**
 * The dev-server supervisor's decisions, over stand-in servers (the real dev server is killed and restarted in
 * tests/e2e/start-crash.test.ts): a server that dies is started again, and when starting keeps failing the
 * supervisor gives up (`failed` settles, so `npm start` exits non-zero) instead of retrying forever.
 */
import { describe, expect, it } from 'vitest';
import { superviseDevServer } from '../../bin/lib/dev-server-supervisor';
import type { DevServer, DevServerExit } from '../../bin/lib/temporal-dev-server';
import { silentLogger } from '../../core/logger';

function fakeServer(pid: number): DevServer & { die(exit?: DevServerExit): void; stopped: boolean } {
  let die!: (e: DevServerExit) => void;
  const exited = new Promise<DevServerExit>((resolve) => (die = resolve));
  const s = {
    address: '127.0.0.1:7233',
    uiUrl: 'http://127.0.0.1:8233',
    pid,
    exited,
    stopped: false,
    die: (e: DevServerExit = { code: null, signal: 'SIGKILL' }) => die(e),
    async stop() {
      s.stopped = true;
      die({ code: 0, signal: null });
    },
  };
  return s;
}

describe('dev server supervisor', () => {
  it('restarts a server that died, on every death, and stops the current one', async () => {
    const servers: ReturnType<typeof fakeServer>[] = [];
    const said: string[] = [];
    const sup = await superviseDevServer({
      start: async () => {
        const s = fakeServer(100 + servers.length);
        servers.push(s);
        return s;
      },
      logger: silentLogger(),
      restartDelayMs: 5,
      say: (m) => said.push(m),
    });
    expect(sup.current().pid).toBe(100);
    servers[0]!.die();
    await expect.poll(() => servers.length).toBe(2);
    expect(sup.current().pid).toBe(101);
    servers[1]!.die({ code: 1, signal: null });
    await expect.poll(() => servers.length).toBe(3);
    expect(said).toContain(
      'Temporal dev server (pid 100) stopped (signal SIGKILL); restarting in 0.005 s (attempt 1 of 5)',
    );
    expect(said).toContain('Temporal dev server restarted (pid 102) on the same state file');
    await sup.stop();
    expect(servers[2]!.stopped).toBe(true);
    expect(servers).toHaveLength(3);
  });

  it('gives up after maxAttempts consecutive failed starts, with doubling delays', async () => {
    let starts = 0;
    const first = fakeServer(1);
    const said: string[] = [];
    const sup = await superviseDevServer({
      start: async () => {
        starts += 1;
        if (starts === 1) return first;
        throw new Error('port in use');
      },
      logger: silentLogger(),
      restartDelayMs: 2,
      maxAttempts: 3,
      say: (m) => said.push(m),
    });
    first.die();
    const err = await sup.failed;
    expect(err.message).toBe('the Temporal dev server could not be restarted after 3 attempts');
    expect(starts).toBe(4);
    expect(said.filter((m) => m.includes('restarting in')).map((m) => /in ([\d.]+) s/.exec(m)?.[1])).toEqual([
      '0.002',
      '0.004',
      '0.008',
    ]);
    await sup.stop();
  });
});
