/**
 * The client side of tenant secrets (issue #17), shared by `ee secrets encrypt` and the deploy Action: fetch the
 * agent's key and evidence from the control plane, verify the binding against the client's own trust roots (ITA
 * JWKS, trusted MRTDs: pinned, or the control plane's list), then seal the env for one deployment on that agent.
 * `fetch` is injected; nothing here prints.
 */
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { sealEnv, type EncryptedEnv } from '../../core/secrets/hpke-env';
import { checkEncryptionKey, type EncryptionKeyEvidence, type KeyRefusal } from '../../core/secrets/verify-key';

export const DEFAULT_ITA_JWKS_URL = 'https://portal.trustauthority.intel.com/certs';
export const DEFAULT_ITA_ISSUER = 'https://portal.trustauthority.intel.com';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Why encryption was refused or could not happen (typed: callers branch on `code`). */
export class SecretsClientError extends Error {
  override readonly name = 'SecretsClientError';
  constructor(
    readonly code: KeyRefusal | 'control_plane' | 'bad_input',
    message: string,
  ) {
    super(message);
  }
}

export interface EncryptEnvOptions {
  cpUrl: string;
  agentId: string;
  env: Record<string, string>;
  /** The deployment id to bind (a UUID the deploy request will carry); a fresh v4 UUID when absent. */
  deploymentId?: string;
  /** JWKS the ITA token must verify against (default Intel's); or a resolver (tests, offline keys). */
  itaJwksUrl?: string;
  jwks?: JWTVerifyGetKey;
  /** Expected ITA issuer (default Intel's; empty string: not checked). */
  itaIssuer?: string;
  /** Pinned trusted MRTDs; when absent, the control plane's GET /api/v1/trusted-mrtds (type agent). */
  trustedMrtds?: readonly string[];
  maxAgeSeconds?: number;
  fetch?: typeof globalThis.fetch;
}

export interface EncryptedDeployFields {
  /** Send these three with POST /api/v1/deploy. */
  deployment_id: string;
  agent_id: string;
  encrypted_env: EncryptedEnv;
  /** What was verified (for the caller's log; not sent). */
  verified: { mrtd: string; issued_at: string; trusted_mrtds_from: 'pinned' | 'control-plane' };
}

async function getJson(f: typeof fetch, url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await f(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new SecretsClientError('control_plane', `GET ${url} failed: ${(e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text.slice(0, 300);
    try {
      const d = (JSON.parse(text) as { detail?: unknown }).detail;
      if (typeof d === 'string') detail = d;
    } catch {
      // not JSON
    }
    throw new SecretsClientError('control_plane', `GET ${url} answered ${res.status}: ${detail}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new SecretsClientError('control_plane', `GET ${url} did not answer JSON`);
  }
}

/** Fetches + verifies the agent's key, then seals `env` for (deployment id, agent id). Throws SecretsClientError. */
export async function encryptEnvForAgent(o: EncryptEnvOptions): Promise<EncryptedDeployFields> {
  const f = o.fetch ?? globalThis.fetch;
  const base = o.cpUrl.replace(/\/+$/, '');
  const deploymentId = o.deploymentId ?? randomUUID();
  if (!UUID_RE.test(deploymentId)) {
    throw new SecretsClientError('bad_input', `deployment id must be a lower-case UUID, not '${deploymentId}'`);
  }
  if (!o.agentId) throw new SecretsClientError('bad_input', 'agent id is required');
  const evidence = (await getJson(
    f,
    `${base}/api/v1/agents/${encodeURIComponent(o.agentId)}/encryption-key`,
  )) as EncryptionKeyEvidence;
  let trusted = o.trustedMrtds;
  if (!trusted) {
    const list = (await getJson(f, `${base}/api/v1/trusted-mrtds`)) as {
      trusted_mrtds?: { mrtd: string; type: string }[];
    };
    trusted = (list.trusted_mrtds ?? []).filter((m) => m.type === 'agent').map((m) => m.mrtd);
  }
  const check = await checkEncryptionKey(evidence, {
    agentId: o.agentId,
    jwks: o.jwks ?? createRemoteJWKSet(new URL(o.itaJwksUrl ?? DEFAULT_ITA_JWKS_URL)),
    issuer: o.itaIssuer ?? DEFAULT_ITA_ISSUER,
    trustedMrtds: trusted,
    maxAgeSeconds: o.maxAgeSeconds,
  });
  if (!check.ok) {
    throw new SecretsClientError(check.code, `refusing to encrypt to agent ${o.agentId}: ${check.detail}`);
  }
  let encrypted: EncryptedEnv;
  try {
    encrypted = await sealEnv({ publicKey: check.publicKey, env: o.env, deploymentId, agentId: o.agentId });
  } catch (e) {
    throw new SecretsClientError('bad_input', (e as Error).message);
  }
  return {
    deployment_id: deploymentId,
    agent_id: o.agentId,
    encrypted_env: encrypted,
    verified: {
      mrtd: check.mrtd,
      issued_at: check.issuedAt,
      trusted_mrtds_from: o.trustedMrtds ? 'pinned' : 'control-plane',
    },
  };
}
