/**
 * Keeps the embedded Temporal dev server up for `npm start`: when it dies (crash, OOM kill, `kill -9`), it is
 * started again on the same state file and ports, after a delay that doubles per consecutive failure. The worker
 * and the API reconnect on their own; Temporal resumes every run from its state file. When the server cannot be
 * brought back (`maxAttempts` consecutive failed starts), `failed` settles and the process should exit non-zero
 * rather than serve a control plane without an orchestrator.
 */
import type { Logger } from '../../core/logger';
import type { DevServer, DevServerExit } from './temporal-dev-server';

export interface SupervisorOptions {
  start: () => Promise<DevServer>;
  logger: Logger;
  /** First restart delay; doubles per consecutive failure up to 30 s. Default 1 s. */
  restartDelayMs?: number;
  /** Consecutive failed restarts before giving up. Default 5. */
  maxAttempts?: number;
  /** A server that stayed up this long resets the failure count. Default 60 s. */
  stableAfterMs?: number;
  say?: (message: string) => void;
}

export interface SupervisedDevServer {
  address: string;
  uiUrl: string;
  /** The server currently running (changes on restart). */
  current(): DevServer;
  /** Settles with the reason when the server is down for good; never settles otherwise. */
  failed: Promise<Error>;
  stop(): Promise<void>;
}

const describeExit = (e: DevServerExit) => (e.signal ? `signal ${e.signal}` : `exit code ${e.code}`);

export async function superviseDevServer(opts: SupervisorOptions): Promise<SupervisedDevServer> {
  const baseDelay = opts.restartDelayMs ?? 1000;
  const maxAttempts = opts.maxAttempts ?? 5;
  const stableAfterMs = opts.stableAfterMs ?? 60_000;
  const say = opts.say ?? (() => {});
  let server = await opts.start();
  let stopping = false;
  let wake: (() => void) | undefined;
  let fail!: (err: Error) => void;
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const loop = async () => {
    let upSince = Date.now();
    let attempts = 0;
    for (;;) {
      const exit = await server.exited;
      if (stopping) return;
      if (Date.now() - upSince >= stableAfterMs) attempts = 0;
      for (;;) {
        attempts += 1;
        if (attempts > maxAttempts) {
          fail(new Error(`the Temporal dev server could not be restarted after ${maxAttempts} attempts`));
          return;
        }
        const delay = Math.min(30_000, baseDelay * 2 ** (attempts - 1));
        const line = `Temporal dev server (pid ${server.pid}) stopped (${describeExit(exit)}); restarting in ${delay / 1000} s (attempt ${attempts} of ${maxAttempts})`;
        opts.logger.error(line);
        say(line);
        await sleep(delay);
        if (stopping) return;
        try {
          server = await opts.start();
          if (stopping) {
            await server.stop();
            return;
          }
          upSince = Date.now();
          const ok = `Temporal dev server restarted (pid ${server.pid}) on the same state file`;
          opts.logger.info(ok);
          say(ok);
          break;
        } catch (err) {
          opts.logger.error(`restarting the Temporal dev server failed: ${(err as Error).message}`);
        }
      }
    }
  };
  const looping = loop();

  return {
    address: server.address,
    uiUrl: server.uiUrl,
    current: () => server,
    failed,
    async stop() {
      stopping = true;
      wake?.();
      await server.stop();
      await looping;
    },
  };
}
