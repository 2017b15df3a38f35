/**
 * The workload: one deployment at a time (agent.md §9, fixed). A deploy is accepted only when none is in flight
 * (else DeployConflictError → 409 naming the current deployment), runs in the background — files written, limits
 * applied, `docker compose up -d` with a timeout, health wait — and ends with the CP's `deployed` or `status`
 * callback, retried. Undeploy cancels an in-flight deploy and runs `compose down`. Logs and container lists cover
 * only this workload's compose project; a ring buffer keeps its recent output.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { backoffDelay, sleep, type BackoffPolicy } from './backoff';
import { applyResourceLimits, ComposeError, envFileText, safeWorkloadPath } from './compose';
import type { EncryptedEnv } from '../../core/secrets/hpke-env';
import type { DeployPayload } from './deploy-payload';
import { errorText, type AgentLogger } from './log';
import { CommandError, runCommand, supervise, type Supervised } from './proc';

/** Compose project of every workload: the filter for logs and containers. */
export const PROJECT = 'ee-workload';

export class DeployConflictError extends Error {
  override readonly name = 'DeployConflictError';
  constructor(
    message: string,
    readonly currentDeploymentId: string | null,
  ) {
    super(message);
  }
}

export type WorkloadStatus = 'undeployed' | 'deploying' | 'deployed' | 'error' | 'undeploying';

/** Transient registry/network failures worth another `compose up` (v1's list). */
const TRANSIENT = [
  'i/o timeout',
  'tls handshake timeout',
  'temporary failure in name resolution',
  'connection reset by peer',
  'connection timed out',
  'failed to do request',
  'net/http: request canceled',
  'context deadline exceeded',
];

export class RingBuffer<T> {
  private items: T[] = [];
  constructor(private readonly capacity: number) {}
  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }
  toArray(): T[] {
    return [...this.items];
  }
}

export interface WorkloadCallbacks {
  deployed(body: { deployment_id: string; service_id: string; attestation: Record<string, unknown> }): Promise<void>;
  failed(body: { status: 'error'; deployment_id: string; error: string }): Promise<void>;
  /** Post-deploy attestation (best effort: its failure never fails a running workload). */
  attest(composeHash: string): Promise<Record<string, unknown>>;
}

export interface WorkloadOptions {
  dir: string;
  docker: string;
  composeTimeoutMs: number;
  healthTimeoutMs: number;
  defaultHealthPort: number;
  retry: BackoffPolicy;
  log: AgentLogger;
  callbacks: WorkloadCallbacks;
  env?: NodeJS.ProcessEnv;
  /** Opens a deployment's `encrypted_env` with the agent's key (throws EnvOpenError when it is not for us). */
  openEnv?: (envelope: EncryptedEnv, deploymentId: string) => Promise<Record<string, string>>;
}

export interface WorkloadView {
  status: WorkloadStatus;
  deploymentId: string | null;
  appName: string | null;
  error: string | null;
}

export function createWorkload(opts: WorkloadOptions) {
  const { log } = opts;
  const composeFile = join(opts.dir, 'docker-compose.yml');
  const buffer = new RingBuffer<{ time: string; line: string }>(1000);
  let view: WorkloadView = { status: 'undeployed', deploymentId: null, appName: null, error: null };
  let inFlight: { controller: AbortController; done: Promise<void> } | null = null;
  let follower: Supervised | null = null;

  const record = (line: string) => buffer.push({ time: new Date().toISOString(), line: log.mask(line) });
  const compose = (args: string[], signal?: AbortSignal, secrets?: Record<string, string>) =>
    runCommand(opts.docker, ['compose', '-p', PROJECT, '-f', composeFile, ...args], {
      cwd: opts.dir,
      // Opened secrets reach `compose up` only, through the child's environment (interpolation and `environment:`
      // pass-through); they are never written to the workload directory.
      env: secrets ? { ...(opts.env ?? process.env), ...secrets } : opts.env,
      timeoutMs: opts.composeTimeoutMs,
      signal,
      onLine: record,
    });

  async function stopFollower() {
    const f = follower;
    follower = null;
    await f?.stop();
  }

  /** Retries a CP callback with backoff; gives up after 8 attempts (logged), never throws. */
  async function callback(what: string, fn: () => Promise<void>) {
    for (let attempt = 1; ; attempt++) {
      try {
        await fn();
        log.info(`${what} callback delivered`);
        return;
      } catch (err) {
        if (attempt >= 8) return log.error(`${what} callback failed ${attempt} times, giving up: ${errorText(err)}`);
        const d = backoffDelay(opts.retry, attempt);
        log.warn(`${what} callback attempt ${attempt} failed (${errorText(err)}); retrying in ${d} ms`);
        await sleep(d);
      }
    }
  }

  async function waitHealthy(port: number, path: string, signal: AbortSignal) {
    const url = `http://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`;
    const deadline = Date.now() + opts.healthTimeoutMs;
    let last = 'no answer';
    while (!signal.aborted) {
      try {
        const r = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) });
        await r.arrayBuffer();
        if (r.status < 400) return;
        last = `HTTP ${r.status}`;
      } catch (err) {
        last = errorText(err);
      }
      if (Date.now() >= deadline) {
        throw new Error(`workload not healthy at ${url} within ${opts.healthTimeoutMs / 1000} s (last: ${last})`);
      }
      await sleep(500, signal).catch(() => undefined);
    }
    throw new Error('deploy cancelled');
  }

  async function run(p: DeployPayload, signal: AbortSignal) {
    const id = p.deployment_id;
    try {
      // Opened first: a ciphertext for another agent or deployment fails the deploy before anything is touched.
      let secrets: Record<string, string> | undefined;
      if (p.encrypted_env) {
        if (!opts.openEnv) throw new Error('this agent cannot open encrypted_env (no HPKE key)');
        secrets = await opts.openEnv(p.encrypted_env, id);
        for (const v of Object.values(secrets)) log.redact(v);
        log.info(`deployment ${id}: opened encrypted_env (${Object.keys(secrets).length} values)`);
      }
      await stopFollower();
      if (existsSync(composeFile)) {
        await compose(['down', '--remove-orphans'], signal).catch((e: unknown) =>
          log.warn(`compose down of the previous workload failed: ${errorText(e)}`),
        );
      }
      rmSync(opts.dir, { recursive: true, force: true });
      mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      const yaml = applyResourceLimits(Buffer.from(p.compose, 'base64').toString('utf8'), p.resources);
      writeFileSync(composeFile, yaml, { mode: 0o600 });
      const env = { ...(p.config.env ?? {}), ...(p.env ?? {}) };
      if (Object.keys(env).length > 0) writeFileSync(join(opts.dir, '.env'), envFileText(env), { mode: 0o600 });
      for (const [name, b64] of Object.entries(p.build_context ?? {})) {
        const path = safeWorkloadPath(opts.dir, name);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, Buffer.from(b64, 'base64'));
      }
      const extra = (p.config.compose_up_args ?? '').split(/\s+/).filter((a) => a && a !== '-d' && a !== '--detach');
      for (let attempt = 1; ; attempt++) {
        try {
          log.info(`deployment ${id}: docker compose up (attempt ${attempt})`);
          await compose(['up', '-d', ...extra], signal, secrets);
          break;
        } catch (err) {
          const text = err instanceof CommandError ? `${err.stdout}\n${err.stderr}`.toLowerCase() : '';
          if (attempt >= 3 || signal.aborted || !TRANSIENT.some((t) => text.includes(t))) throw err;
          await sleep(backoffDelay(opts.retry, attempt), signal);
        }
      }
      const port = p.config.health_port ?? opts.defaultHealthPort;
      await waitHealthy(port, p.config.health_endpoint ?? '/health', signal);
      follower = supervise({
        name: 'compose logs',
        cmd: opts.docker,
        args: [
          'compose',
          '-p',
          PROJECT,
          '-f',
          composeFile,
          'logs',
          '-f',
          '--no-color',
          '--timestamps',
          '--tail',
          '100',
        ],
        env: opts.env,
        log,
        backoff: opts.retry,
        onLine: record,
      });
      const hash = `sha256:${createHash('sha256').update(readFileSync(composeFile)).digest('hex')}`;
      let attestation: Record<string, unknown>;
      try {
        attestation = await opts.callbacks.attest(hash);
      } catch (err) {
        log.warn(`deployment ${id}: post-deploy attestation failed (workload keeps running): ${errorText(err)}`);
        attestation = { workload: { compose_hash: hash, health_status: 'healthy' }, attestation_error: errorText(err) };
      }
      if (signal.aborted) return;
      view = { status: 'deployed', deploymentId: id, appName: p.app_name || null, error: null };
      log.info(`deployment ${id} is running`);
      await callback(`deployed ${id}`, () =>
        opts.callbacks.deployed({ deployment_id: id, service_id: '', attestation }),
      );
    } catch (err) {
      if (signal.aborted) return;
      const reason = log.mask(errorText(err)).slice(0, 4000);
      view = { status: 'error', deploymentId: id, appName: null, error: reason };
      log.error(`deployment ${id} failed: ${reason}`);
      if (!(err instanceof ComposeError)) {
        await compose(['down', '--remove-orphans']).catch(() => undefined);
      }
      await callback(`failed ${id}`, () =>
        opts.callbacks.failed({ status: 'error', deployment_id: id, error: reason }),
      );
    }
  }

  return {
    view: (): WorkloadView => ({ ...view }),
    recentOutput: () => buffer.toArray(),

    /** Accepts a deploy (returns at once) or throws DeployConflictError. */
    deploy(p: DeployPayload): void {
      if (inFlight) {
        throw new DeployConflictError(
          view.deploymentId === p.deployment_id ? 'already deploying this deployment' : 'busy with another deployment',
          view.deploymentId,
        );
      }
      if (view.status === 'deployed' && view.deploymentId === p.deployment_id) {
        throw new DeployConflictError('this deployment is already running', view.deploymentId);
      }
      view = { status: 'deploying', deploymentId: p.deployment_id, appName: p.app_name || null, error: null };
      const controller = new AbortController();
      const done = run(p, controller.signal).finally(() => {
        if (inFlight?.controller === controller) inFlight = null;
      });
      inFlight = { controller, done };
    },

    /** Cancels an in-flight deploy and stops the workload (`compose down`, volumes kept). */
    async undeploy(): Promise<void> {
      const prev = view;
      view = { ...prev, status: 'undeploying' };
      if (inFlight) {
        inFlight.controller.abort();
        await inFlight.done;
      }
      await stopFollower();
      try {
        if (existsSync(composeFile)) await compose(['down', '--remove-orphans']);
      } catch (err) {
        view = { ...prev, status: 'error', error: errorText(err) };
        throw err;
      }
      view = { status: 'undeployed', deploymentId: null, appName: null, error: null };
    },

    /** This workload's containers (`docker ps` filtered on the compose project). */
    async containers(): Promise<{ name: string; status: string }[]> {
      try {
        const r = await runCommand(
          opts.docker,
          [
            'ps',
            '-a',
            '--filter',
            `label=com.docker.compose.project=${PROJECT}`,
            '--format',
            '{{.Names}}\t{{.Status}}',
          ],
          { env: opts.env, timeoutMs: 10_000 },
        );
        return r.stdout
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => {
            const [name = '', status = ''] = l.split('\t');
            return { name, status: status.startsWith('Up') ? 'running' : 'stopped' };
          });
      } catch {
        return [];
      }
    },

    /** `docker logs` of this workload's containers only. */
    async logs(q: { since: string; container?: string }): Promise<{ container: string; line: string }[]> {
      const names = (await this.containers()).map((c) => c.name).filter((n) => !q.container || n.includes(q.container));
      const out: { container: string; line: string }[] = [];
      for (const name of names) {
        try {
          const r = await runCommand(opts.docker, ['logs', '--since', q.since, '--timestamps', name], {
            env: opts.env,
            timeoutMs: 30_000,
          });
          for (const line of `${r.stdout}\n${r.stderr}`.split('\n'))
            if (line.trim()) out.push({ container: name, line });
        } catch (err) {
          log.warn(`docker logs ${name} failed: ${errorText(err)}`);
        }
      }
      return out;
    },

    async close(): Promise<void> {
      inFlight?.controller.abort();
      await inFlight?.done;
      await stopFollower();
    },
  };
}

export type Workload = ReturnType<typeof createWorkload>;
