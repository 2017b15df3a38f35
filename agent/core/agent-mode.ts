/**
 * Agent mode (agent.md §3, fixed): reconnect with the persisted state or register (challenge → fresh quote bound
 * to the nonce → ITA → register, retried with backoff and one log line per attempt), persist the credentials,
 * supervise cloudflared, serve the HTTP API, heartbeat with a fresh attestation every `heartbeat_interval`.
 * The HTTP edge is injected (`serve`), so this file has no HTTP framework.
 */
import { reportDataForNonce } from '../../core/attestation/report-data';
import { AbortedError, backoffDelay, sleep, type BackoffPolicy } from './backoff';
import { AttestationError, type Attester } from './attestation';
import type { AgentConfig } from './config';
import { createCpAttestationVerifier, type CpAttestationVerifier } from './cp-attestation';
import { CpError, type CpClient } from './cp-client';
import { loadOrCreateEnvKey, type EnvKey } from './env-key';
import { errorText, type AgentLogger } from './log';
import { supervise, type Supervised } from './proc';
import type { PersistedState, StateStore } from './state';
import { createWorkload, type Workload } from './workload';

export const AGENT_VERSION = '2.0.0';

export class GaveUpError extends Error {
  override readonly name = 'GaveUpError';
}

/** What the HTTP edge needs from the running agent. */
export interface AgentRuntime {
  cfg: AgentConfig;
  log: AgentLogger;
  vmName: string;
  datacenter: string;
  state(): PersistedState;
  workload: Workload;
  attester: Attester;
  cpAttestation: CpAttestationVerifier;
  /** The HPKE key tenant secrets are encrypted to (issue #17). */
  envKey: EnvKey;
}

export interface AgentDeps {
  cfg: AgentConfig;
  log: AgentLogger;
  vmName: string;
  datacenter: string;
  attester: Attester;
  cp: CpClient;
  store: StateStore;
  serve: (rt: AgentRuntime) => Promise<{ url: string; close(): Promise<void> }>;
  env?: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

/** Why a registration attempt failed, for the log line (typed, never parsed from text). */
function cause(err: unknown): string {
  if (err instanceof AttestationError) return `attestation (${err.kind}): ${err.message}`;
  if (err instanceof CpError) return `control plane (${err.kind}${err.status ? ` ${err.status}` : ''}): ${err.message}`;
  return errorText(err);
}

export async function runAgent(d: AgentDeps): Promise<void> {
  const { cfg, log, signal } = d;
  const retry: BackoffPolicy = { initialMs: cfg.retry_initial_seconds * 1000, maxMs: cfg.retry_max_seconds * 1000 };
  const insecure = d.attester.provider === 'insecure-local';
  if (insecure) log.warn('attestation is insecure-local: NO TDX, development only; the CP must allow it');
  const envKey = await loadOrCreateEnvKey(cfg.data_dir);
  log.info(`${envKey.created ? 'generated' : 'loaded'} the HPKE key for tenant secrets (${envKey.path})`);

  // Every quote the CP reads binds the HPKE public key (REPORTDATA 32..64 = SHA-256 of it), so each stored ITA
  // token vouches for the key a client encrypts to.
  async function freshAttestation() {
    const { nonce } = await d.cp.challenge(d.vmName);
    return d.attester.attest(reportDataForNonce(nonce, envKey.binding));
  }

  async function register(): Promise<PersistedState> {
    for (let attempt = 1; ; attempt++) {
      try {
        log.info(`registering ${d.vmName} with ${cfg.control_plane_url} (attempt ${attempt})`);
        const attestation = await freshAttestation(); // fresh per attempt: an expired ITA token never sticks
        const r = await d.cp.register(
          {
            attestation,
            vm_name: d.vmName,
            version: AGENT_VERSION,
            node_size: cfg.node_size,
            datacenter: d.datacenter,
            encryption_public_key: envKey.publicKeyB64,
          },
          cfg.bootstrap_token,
        );
        const s: PersistedState = {
          agent_id: r.agent_id,
          control_secret: r.agent_api_secret,
          tunnel_token: r.tunnel_token ?? null,
          hostname: r.hostname ?? null,
          vm_name: d.vmName,
          control_plane_url: cfg.control_plane_url,
          registered_at: new Date().toISOString(),
        };
        log.redact(s.control_secret);
        log.redact(s.tunnel_token);
        d.store.save(s);
        log.info(
          `registered as agent ${s.agent_id}${s.hostname ? ` (${s.hostname})` : ''}; state saved to ${d.store.path}`,
        );
        return s;
      } catch (err) {
        if (err instanceof AbortedError || signal.aborted) throw new AbortedError('stopped');
        if (cfg.registration_max_attempts > 0 && attempt >= cfg.registration_max_attempts) {
          throw new GaveUpError(`registration failed ${attempt} times; last: ${cause(err)}`);
        }
        // A rejection (403) will not change soon: wait the longest delay.
        const rejected = err instanceof CpError && err.status === 403;
        const delay = rejected ? retry.maxMs : backoffDelay(retry, attempt);
        log.error(`registration attempt ${attempt} failed: ${cause(err)}; retrying in ${delay} ms`);
        await sleep(delay, signal);
      }
    }
  }

  async function heartbeat(s: PersistedState): Promise<void> {
    const attestation = await freshAttestation();
    const w = workload.view();
    // status null: the CP keeps its own lifecycle status (v1's intermediate strings overwrote it).
    await d.cp.heartbeat(s.agent_id, s.control_secret, {
      vm_name: d.vmName,
      attestation,
      status: null,
      deployment_id: w.deploymentId,
    });
  }

  /** Persisted credentials still valid? A heartbeat answers: 401/404 → stale; anything else transient. */
  async function reconnect(s: PersistedState): Promise<PersistedState | null> {
    if (s.vm_name !== d.vmName || s.control_plane_url !== cfg.control_plane_url) {
      log.warn(`persisted state is for ${s.vm_name} at ${s.control_plane_url}; registering afresh`);
      return null;
    }
    log.redact(s.control_secret);
    log.redact(s.tunnel_token);
    if (insecure) return s; // no heartbeat for insecure-local (no ITA token); trust the saved state
    for (let attempt = 1; ; attempt++) {
      try {
        await heartbeat(s);
        log.info(`reconnected as agent ${s.agent_id} with the persisted state (no new registration)`);
        return s;
      } catch (err) {
        if (err instanceof CpError && (err.status === 401 || err.status === 404)) {
          log.warn(`persisted credentials refused (${err.status}); registering again`);
          d.store.clear();
          return null;
        }
        const delay = backoffDelay(retry, attempt);
        log.error(`reconnect attempt ${attempt} failed: ${cause(err)}; retrying in ${delay} ms`);
        await sleep(delay, signal);
      }
    }
  }

  let current: PersistedState | null = null;
  const workload: Workload = createWorkload({
    dir: cfg.workload_dir,
    docker: cfg.docker_path,
    composeTimeoutMs: cfg.compose_timeout_seconds * 1000,
    healthTimeoutMs: cfg.health_timeout_seconds * 1000,
    defaultHealthPort: cfg.workload_port,
    retry,
    log,
    env: d.env,
    callbacks: {
      deployed: (body) => d.cp.deployed(current!.agent_id, current!.control_secret, body),
      failed: (body) => d.cp.status(current!.agent_id, current!.control_secret, body),
      attest: async (composeHash) => {
        const doc = await freshAttestation();
        return { ...doc, workload: { compose_hash: composeHash, health_status: 'healthy' } };
      },
    },
    // The AAD names this agent: a ciphertext sealed for another agent's id (or key) does not open here.
    openEnv: (envelope, deploymentId) => envKey.open(envelope, { deploymentId, agentId: current!.agent_id }),
  });

  const saved = d.store.load();
  current = (saved && (await reconnect(saved))) ?? (await register());

  let tunnel: Supervised | null = null;
  const startTunnel = (token: string | null) => {
    if (!token) return log.warn('no tunnel token from the control plane: not starting cloudflared');
    // The token goes by environment (TUNNEL_TOKEN), not argv, so it is not in the process list.
    tunnel = supervise({
      name: 'cloudflared',
      cmd: cfg.cloudflared_path,
      args: ['tunnel', '--no-autoupdate', 'run'],
      env: { ...(d.env ?? process.env), TUNNEL_TOKEN: token },
      log,
      backoff: retry,
    });
  };

  const rt: AgentRuntime = {
    cfg,
    log,
    vmName: d.vmName,
    datacenter: d.datacenter,
    state: () => current!,
    workload,
    attester: d.attester,
    cpAttestation: createCpAttestationVerifier({
      mode: cfg.cp_to_agent_attestation_mode,
      trustedMrtds: cfg.trusted_proxy_mrtds,
      dataDir: cfg.data_dir,
      ttlSeconds: cfg.cp_attestation_challenge_ttl,
    }),
    envKey,
  };
  // The API listens before the tunnel connects, so the first proxied request finds an origin (v1 had a gap).
  const server = await d.serve(rt);
  log.info(`agent API listening on ${server.url}`);
  startTunnel(current.tunnel_token);

  try {
    while (!signal.aborted) {
      await sleep(cfg.heartbeat_interval * 1000, signal);
      if (insecure) continue;
      try {
        await heartbeat(current);
        log.info('heartbeat sent');
      } catch (err) {
        if (err instanceof CpError && (err.status === 401 || err.status === 404)) {
          log.error(`heartbeat refused (${err.status}): credentials no longer valid; registering again`);
          d.store.clear();
          const prevToken: string | null = current.tunnel_token;
          current = await register();
          if (current.tunnel_token && current.tunnel_token !== prevToken) {
            await (tunnel as Supervised | null)?.stop();
            startTunnel(current.tunnel_token);
          }
        } else {
          log.warn(`heartbeat failed: ${cause(err)}`);
        }
      }
    }
  } catch (err) {
    if (!(err instanceof AbortedError)) throw err;
  } finally {
    log.info('stopping');
    await (tunnel as Supervised | null)?.stop();
    await workload.close();
    await server.close();
  }
}
