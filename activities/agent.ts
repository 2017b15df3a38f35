/**
 * Control plane → agent activities (background.md §9, agent.md §8/§9): health, logs, stats, deploy, undeploy.
 *
 * Failure vocabulary (workflows branch on the type, never on message text):
 * - no HTTP answer, timeout, 5xx/429/408, or a 2xx without the expected JSON → `AgentUnavailableError`, a plain
 *   Error so the retry policy keeps trying (its name `AgentUnavailable` is the failure type once retries run out);
 * - 404 → non-retryable `AgentNotFound` (route missing: not an agent, or the tunnel's 404 catch-all);
 * - any other answer (400/401/403/409/3xx/unexpected 2xx) → non-retryable `AgentRejected`, details `[{status, body}]`;
 * - no hostname and no AGENT_DIRECT_URL → non-retryable `AgentNoAddress`.
 * `agentHealth` is the exception: an unhealthy agent is data (`healthy: false`), not a failure.
 *
 * The agent's control secret: the CP keeps an HMAC of it for agent → CP calls and, since migration
 * 20261124010000, a copy sealed under the install sealing key in `agent_control_credentials.api_secret_sealed`.
 * It is unsealed here, per call, and sent as `X-Agent-Secret`; it never enters workflow history.
 *
 * `X-CP-Attestation` (attestation.md §9.3, agent.md §7.2) on deploy/undeploy, per `operational.cp_to_agent_attestation_mode`:
 * the agent's single-use challenge nonce → this control plane's own TDX quote over the nonce's ASCII bytes
 * (configfs-tsm) → base64url of `{nonce, quote_b64, mrtd, generated_at}`. Minted inside the activity on every
 * attempt (a nonce is single use, so a retry needs a fresh one); it never enters workflow history. `optional`: any
 * failure sends no header; `required`: a CP that cannot mint fails the call (`CpAttestationUnavailable`), a
 * challenge the agent does not answer is retried like any agent call.
 */
import { Context } from '@temporalio/activity';
import { access } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import {
  AgentAddressError,
  AgentHttpError,
  agentBaseUrl,
  createAgentClient,
  type AgentClient,
  type AgentDeployConfig,
  type AgentDeployPayload,
  type AgentLogLine,
  type AgentStats,
} from '../clients/agent-client';
import { mintCpQuote, TSM_REPORT_ROOT } from '../core/attestation/cp-quote';
import { unseal } from '../core/auth/seal';
import type { Logger } from '../core/logger';
import type { AgentControlCredentialRow, AgentRow, DeploymentRow } from '../core/db/tables';
import { parseJsonColumn } from '../core/db/tables';
import type { SettingsReader } from '../core/settings/types';
import type { KeyRing } from '../core/auth/keyring';
import { AgentFailure } from '../workflows/contracts/failures';
import { UnavailableError } from './unavailable-error';

/** Thrown for transient failures; deliberately not an ApplicationFailure so Temporal retries it. */
export class AgentUnavailableError extends UnavailableError {
  override readonly name = AgentFailure.Unavailable;
}

/** Default and ceiling for `agentLogs` lines, and a byte cap that keeps the result far below Temporal's 2 MiB. */
export const DEFAULT_LOG_LINES = 1000;
export const MAX_LOG_LINES = 10_000;
export const MAX_LOG_BYTES = 1_000_000;

// ---------- inputs / outputs (JSON-plain) ----------

export interface AgentTarget {
  agentId: string;
  /** Tunnel hostname (`agent-<id>.<domain>`); may be null when AGENT_DIRECT_URL does not need it. */
  hostname?: string | null;
}

export interface AgentHealthInput extends AgentTarget {
  /** Ask for a fresh attestation (`?attest=true`, 30 s timeout) — pull mode, background.md §2.1. */
  attest?: boolean;
}
export interface AgentHealthResult {
  /** HTTP 200 with a JSON object body (background.md §2.1); anything else is unhealthy. */
  healthy: boolean;
  /** HTTP status; null when the agent did not answer (unreachable/timeout). */
  status: number | null;
  /** The health object (agent.md §8.2) when healthy; a JSON error body when there was one; else null. */
  body: Record<string, unknown> | null;
  /** Why it is unhealthy. */
  error?: string;
}

export interface AgentLogsInput extends AgentTarget {
  /** `docker logs --since` value; agent default `5m`. */
  since?: string;
  /** Substring filter on container names. */
  container?: string;
  /** Keep only the last N lines (default 1000, max 10000); also sent to agents that support it. */
  lines?: number;
}
export interface AgentLogsResult {
  logs: AgentLogLine[];
  /** Lines the agent reported, before truncation. */
  count: number;
  /** True when lines were dropped to honour `lines` or the byte cap. */
  truncated: boolean;
}

export interface AgentDeployInput extends AgentTarget {
  /** The payload is read from the `deployments` row so workflow inputs stay small. */
  deploymentId: string;
  /**
   * A failover push (issue #20), keyed by deployment id + agent id + move number: before posting, the agent's
   * /api/health is read and a push it already holds (same `deployment_id`) is not sent again, so a retry after a
   * worker died mid-push never deploys twice, whatever agent version answers.
   */
  move?: number;
}
export interface AgentDeployResult {
  accepted: true;
  deploymentId: string;
  /** True when the agent answered 409 "already deploying this id" (a retry of an accepted push). */
  alreadyAccepted: boolean;
  /** HTTP status of the agent's answer (202, or 409 when already accepted). */
  status: number;
}

export interface AgentUndeployResult {
  undeployed: true;
  /** `status` field of the agent's answer (`undeployed` in v1). */
  agentStatus: string;
}

// ---------- factory ----------

export interface AgentActivityDeps {
  db: Knex;
  settings: SettingsReader;
  /** Opens `agent_control_credentials.api_secret_sealed`. */
  sealingKey: KeyRing;
  /** Injected so tests can substitute it; defaults to Node's global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Where the "no secret" warning goes; default: the Temporal activity logger. */
  logger?: Logger;
  /** Overrides the per-call timeouts of background.md §9 (tests). */
  timeoutMs?: number;
  /** configfs-tsm report directory of this control plane's own quotes (X-CP-Attestation). */
  tsmRoot?: string;
}

const DIRECT_URL_SETTING = 'operational.agent_direct_url';
const CP_ATTESTATION_SETTING = 'operational.cp_to_agent_attestation_mode';

export type CpToAgentAttestationMode = 'required' | 'optional' | 'disabled';

/** Unknown values count as `optional` (attestation.md §9.3). */
export function cpToAgentAttestationMode(raw: string | null | undefined): CpToAgentAttestationMode {
  const v = (raw ?? '').trim().toLowerCase();
  return v === 'required' || v === 'disabled' ? v : 'optional';
}

export function createAgentActivities(deps: AgentActivityDeps) {
  const { db, settings, sealingKey } = deps;

  function warn(message: string): void {
    if (deps.logger) return deps.logger.warn(message);
    try {
      Context.current().log.warn(message);
    } catch {
      // outside an activity: nowhere to log
    }
  }

  function requireId(value: unknown, field: string): string {
    if (typeof value !== 'string' || value.trim() === '') {
      throw ApplicationFailure.nonRetryable(`${field} is required`, AgentFailure.InvalidInput);
    }
    return value;
  }

  /** The secret in clear, or null (with a warning) when the CP holds no sealed copy. */
  async function loadSecret(agentId: string): Promise<string | null> {
    const row = (await db('agent_control_credentials').where({ agent_id: agentId }).first('api_secret_sealed')) as
      Pick<AgentCredentialRowWithSealed, 'api_secret_sealed'> | undefined;
    if (!row?.api_secret_sealed) {
      warn(`No sealed control secret for agent ${agentId}; calling it without X-Agent-Secret`);
      return null;
    }
    try {
      return unseal(sealingKey, { sealed: row.api_secret_sealed });
    } catch (err) {
      throw ApplicationFailure.nonRetryable(
        `Control secret of agent ${agentId} does not unseal with this install's key: ${(err as Error).message}`,
        AgentFailure.SecretUnreadable,
      );
    }
  }

  async function clientFor(target: AgentTarget, secret: string | null): Promise<AgentClient> {
    const agentId = requireId(target.agentId, 'agentId');
    let baseUrl: string;
    try {
      baseUrl = agentBaseUrl({
        agentId,
        hostname: target.hostname,
        directUrlTemplate: await settings.get(DIRECT_URL_SETTING),
      });
    } catch (err) {
      if (err instanceof AgentAddressError) throw ApplicationFailure.nonRetryable(err.message, AgentFailure.NoAddress);
      throw err;
    }
    return createAgentClient({
      baseUrl,
      secret,
      fetch: deps.fetch,
      timeoutMs: deps.timeoutMs,
      signal: activityCancellationSignal(),
    });
  }

  /** The `X-CP-Attestation` value for the next deploy/undeploy call to this agent, or undefined (no header). */
  async function cpAttestationFor(client: AgentClient, agentId: string): Promise<string | undefined> {
    const mode = cpToAgentAttestationMode(await settings.get(CP_ATTESTATION_SETTING));
    if (mode === 'disabled') return undefined;
    const root = deps.tsmRoot ?? TSM_REPORT_ROOT;
    // Capability first (attestation.md §9.3 step 2): a CP outside a TEE does not even ask the agent for a nonce.
    const capable = await access(root).then(
      () => true,
      () => false,
    );
    if (!capable) {
      if (mode === 'optional') return undefined;
      throw ApplicationFailure.nonRetryable(
        `CP->agent attestation required but control plane cannot mint TDX quotes: ${root} does not exist`,
        AgentFailure.CpAttestationUnavailable,
      );
    }
    let nonce: string;
    try {
      nonce = (await client.controlChallenge()).nonce.trim();
    } catch (err) {
      if (mode === 'required') throw toFailure(err);
      warn(`CP->agent attestation challenge of agent ${agentId} failed (sending none): ${(err as Error).message}`);
      return undefined;
    }
    const q = await mintCpQuote(nonce, root);
    if (!q.ok) {
      if (mode === 'required') {
        throw ApplicationFailure.nonRetryable(
          `CP->agent attestation required but control plane cannot mint TDX quotes: ${q.error}`,
          AgentFailure.CpAttestationUnavailable,
        );
      }
      return undefined;
    }
    const envelope = {
      nonce,
      quote_b64: q.quote_b64,
      mrtd: q.measurements?.mrtd ?? '',
      generated_at: new Date().toISOString(),
    };
    return Buffer.from(JSON.stringify(envelope), 'utf8').toString('base64url');
  }

  return {
    /** Never throws for an unhealthy agent; throws only for bad input / no address / cancellation. */
    async agentHealth(input: AgentHealthInput): Promise<AgentHealthResult> {
      const client = await clientFor(input, null); // health is unauthenticated (background.md §9)
      try {
        const body = await client.health({ attest: input.attest === true });
        return { healthy: true, status: 200, body };
      } catch (err) {
        if (!(err instanceof AgentHttpError)) throw err;
        return { healthy: false, status: err.status, body: jsonObjectOrNull(err.body), error: err.message };
      }
    },

    async agentLogs(input: AgentLogsInput): Promise<AgentLogsResult> {
      const lines = clampLines(input.lines);
      const client = await clientFor(input, await loadSecret(requireId(input.agentId, 'agentId')));
      const res = await guard(() => client.logs({ since: input.since, container: input.container, lines }));
      const kept = tail(res.logs, lines);
      return { logs: kept, count: res.count, truncated: kept.length < res.logs.length };
    },

    async agentStats(input: AgentTarget): Promise<AgentStats> {
      const client = await clientFor(input, await loadSecret(requireId(input.agentId, 'agentId')));
      return guard(() => client.stats());
    },

    /**
     * Pushes the deployment row to the agent (POST /api/deploy, accepted on 202). Idempotent under the deployment
     * id: the payload is rebuilt from the same row on every attempt, and the agent contract treats a repeated
     * `deployment_id` as the same deploy — a rewrite agent answers 409 "already deploying this id", taken here as
     * success. A v1 agent has no such guard (agent.md §9.2): a retry after a lost 202 restarts the same deploy
     * (compose down, rewrite files, compose up), which converges on the same workload.
     */
    async agentDeploy(input: AgentDeployInput): Promise<AgentDeployResult> {
      const agentId = requireId(input.agentId, 'agentId');
      const deploymentId = requireId(input.deploymentId, 'deploymentId');
      const payload = await loadDeployPayload(agentId, deploymentId);
      const client = await clientFor(input, await loadSecret(agentId));
      if (input.move !== undefined) {
        const held = await client.health().then(
          (h) => (h as { deployment_id?: unknown }).deployment_id,
          () => undefined,
        );
        if (held === deploymentId) return { accepted: true, deploymentId, alreadyAccepted: true, status: 200 };
      }
      const cpAttestation = await cpAttestationFor(client, agentId);
      try {
        await client.deploy(payload, { cpAttestation });
        return { accepted: true, deploymentId, alreadyAccepted: false, status: 202 };
      } catch (err) {
        if (err instanceof AgentHttpError && err.status === 409) {
          // Only "already deploying THIS id"; a 409 naming another deployment means the agent is busy → rejected.
          const other = jsonObjectOrNull(err.body)?.deployment_id;
          if (other === undefined || other === deploymentId) {
            return { accepted: true, deploymentId, alreadyAccepted: true, status: 409 };
          }
        }
        throw toFailure(err);
      }
    },

    /** POST /api/undeploy; naturally idempotent (compose down on a stopped workload is a no-op). */
    async agentUndeploy(input: AgentTarget): Promise<AgentUndeployResult> {
      const agentId = requireId(input.agentId, 'agentId');
      const client = await clientFor(input, await loadSecret(agentId));
      const cpAttestation = await cpAttestationFor(client, agentId);
      const res = await guard(() => client.undeploy({ cpAttestation }));
      return { undeployed: true, agentStatus: typeof res.status === 'string' ? res.status : 'undeployed' };
    },
  };

  async function loadDeployPayload(agentId: string, deploymentId: string): Promise<AgentDeployPayload> {
    const row = (await db<DeploymentRow>('deployments').where({ deployment_id: deploymentId }).first()) as
      DeploymentRow | undefined;
    if (!row) {
      throw ApplicationFailure.nonRetryable(`Deployment ${deploymentId} not found`, AgentFailure.DeploymentNotFound);
    }
    if (row.agent_id !== agentId) {
      throw ApplicationFailure.nonRetryable(
        `Deployment ${deploymentId} is placed on agent ${row.agent_id}, not ${agentId}`,
        AgentFailure.DeploymentAgentMismatch,
      );
    }
    if (!row.compose) {
      throw ApplicationFailure.nonRetryable(
        `Deployment ${deploymentId} has no compose file`,
        AgentFailure.InvalidDeployment,
      );
    }
    const config = asObject(parseJsonColumn<unknown>(row.config, {})) as AgentDeployConfig;
    const buildContext = asObject(parseJsonColumn<unknown>(row.build_context, {}));
    const agent = (await db<AgentRow>('agents').where({ agent_id: agentId }).first('datacenter')) as
      Pick<AgentRow, 'datacenter'> | undefined;
    const appName = row.app_name || str(config.app_name) || str(config.service_name) || '';
    return {
      deployment_id: row.deployment_id,
      app_name: appName,
      datacenter: agent?.datacenter ?? '',
      compose: row.compose,
      // v1 always sent null; a non-empty stored context (filename → base64) is passed on.
      build_context: Object.keys(buildContext).length > 0 ? (buildContext as Record<string, string>) : null,
      config,
      // What is paid for is what the workload gets: the agent applies these limits to every compose service.
      resources: {
        cpu_vcpus: Number(row.cpu_vcpus),
        memory_gb: Number(row.memory_gb),
        gpu_count: Number(row.gpu_count),
      },
      // Ciphertext only (issue #17): the agent opens it with its own key, for this deployment id and its agent id.
      ...(row.encrypted_env
        ? { encrypted_env: parseJsonColumn<{ enc: string; ct: string } | null>(row.encrypted_env, null) }
        : {}),
    };
  }
}

export type AgentActivities = ReturnType<typeof createAgentActivities>;

/** Row shape after migration 20261124010000 (core/db/tables.ts does not carry the column yet). */
interface AgentCredentialRowWithSealed extends AgentControlCredentialRow {
  api_secret_sealed: string | null;
}

// ---------- helpers ----------

/** Maps a client error onto the failure vocabulary; anything else (cancellation, bugs) passes through. */
export function toFailure(err: unknown): unknown {
  if (!(err instanceof AgentHttpError)) return err;
  const { status } = err;
  if (err.kind !== 'http' || status === null || status >= 500 || status === 429 || status === 408) {
    return new AgentUnavailableError(err.message, status);
  }
  return ApplicationFailure.create({
    message: err.message,
    type: status === 404 ? AgentFailure.NotFound : AgentFailure.Rejected,
    nonRetryable: true,
    details: [{ status, body: err.body.slice(0, 240) }],
  });
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err);
  }
}

/** The activity's cancellation signal when running inside an activity, so a cancelled activity stops waiting. */
function activityCancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

function clampLines(lines: number | undefined): number {
  if (lines === undefined || !Number.isFinite(lines)) return DEFAULT_LOG_LINES;
  return Math.min(MAX_LOG_LINES, Math.max(1, Math.floor(lines)));
}

/** Last `max` lines, then fewer if they exceed MAX_LOG_BYTES. */
function tail(logs: AgentLogLine[], max: number): AgentLogLine[] {
  const out: AgentLogLine[] = [];
  let bytes = 0;
  for (let i = logs.length - 1; i >= 0 && out.length < max; i--) {
    const l = logs[i]!;
    bytes += l.container.length + l.line.length + 32;
    if (bytes > MAX_LOG_BYTES) break;
    out.push(l);
  }
  return out.reverse();
}

function asObject(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function jsonObjectOrNull(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
