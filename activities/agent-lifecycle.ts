/**
 * DB side of the agent lifecycle: agent-control callbacks (heartbeat/status/deployed, spec/api.md §2), attestation
 * refresh with the FULL trust policy (never a bare signature check, unlike v1), health-sweep bookkeeping, stale
 * selection and the row-level parts of delete/reset/undeploy. Every write is a conditional update by agent id, so a
 * retry lands on the same end state.
 */
import type { Knex } from 'knex';
import { RTMR_KEYS, type Rtmrs } from '../core/attestation/policy';
import { nowIso, parseJsonColumn, type DeploymentRow } from '../core/db/tables';
import { settingInt } from '../core/settings/read';
import type { SettingsReader } from '../core/settings/types';
import { deleteAgentCascade, getAgent, listStaleAgents, updateAgent, type AgentDbRow } from '../core/stores/agents';
import { purgeNonces } from '../core/stores/nonces';
import type {
  AgentRef,
  ControlResult,
  DeployedInput,
  HeartbeatInput,
  StatusInput,
} from '../workflows/contracts/agents';
import type { AttestationVerifier, TrustVerdict } from './attestation';
import { TrustFailure } from '../workflows/contracts/failures';
import type { ProvisionedTunnel } from './registration';
import { unseal } from '../core/auth/seal';
import type { KeyRing } from '../core/auth/keyring';

export interface LifecycleDeps {
  db: Knex;
  settings: SettingsReader;
  sealingKey: KeyRing;
  verifier: AttestationVerifier;
}

const OK: ControlResult = { ok: true, body: { status: 'ok' } };
const notFound: ControlResult = { ok: false, status: 404, detail: 'Agent not found' };
const tokenOf = (a: Record<string, unknown> | null | undefined) =>
  String((a?.tdx as { intel_ta_token?: unknown } | undefined)?.intel_ta_token ?? '').trim();

export function createAgentLifecycleActivities(deps: LifecycleDeps) {
  const { db, settings, verifier } = deps;

  /** attestation.md §6.2 on an already computed verdict: verified only if the whole policy passed and no RTMR drifted. */
  async function applyRefresh(row: AgentDbRow, token: string, v: TrustVerdict): Promise<boolean> {
    const now = nowIso();
    const fail = (error: string) =>
      updateAgent(db, row.agent_id, {
        intel_ta_token: token,
        verified: false,
        attestation_valid: false,
        attestation_error: error,
        last_attestation_check: now,
      }).then(() => false);
    if (!v.ok) return fail(v.detail);
    const stored = parseJsonColumn<Rtmrs | null>(row.rtmrs, null);
    if (v.rtmrs && stored) {
      const changed = RTMR_KEYS.filter((k) => (stored[k] ?? '').toLowerCase() !== v.rtmrs![k].toLowerCase());
      if (changed.length > 0) return fail(`RTMR drift detected: ${changed.join(', ')} changed`);
    }
    await updateAgent(db, row.agent_id, {
      intel_ta_token: token,
      verified: true,
      attestation_valid: true,
      attestation_error: null,
      last_attestation_check: now,
      tcb_status: v.tcbStatus,
      tcb_verified_at: now,
      ...(stored ? {} : v.rtmrs ? { rtmrs: JSON.stringify(v.rtmrs) } : {}),
    });
    return true;
  }

  /** Whether `deploymentId` is placed on `agentId` (the only deployments an agent's reports may touch). */
  const ownsDeployment = async (agentId: string, deploymentId: string | null | undefined): Promise<boolean> => {
    if (!deploymentId) return false;
    const d = (await db('deployments').where({ deployment_id: deploymentId }).first('agent_id')) as
      { agent_id: string } | undefined;
    return d !== undefined && d.agent_id === agentId;
  };

  return {
    /** api.md §2 heartbeat (auth, vm_name and token presence are checked by the API before the update). */
    async applyHeartbeat(input: HeartbeatInput & { agentId: string }): Promise<ControlResult> {
      const row = await getAgent(db, input.agentId);
      if (!row) return notFound;
      const token = tokenOf(input.attestation);
      const v = await verifier.evaluate(token, row.node_size);
      // The token itself did not verify: refuse the heartbeat. Policy verdicts on a signed token only mark the agent.
      if (!v.ok && (v.code === TrustFailure.ItaRejected || v.code === TrustFailure.ItaError)) {
        return { ok: false, status: 403, detail: v.detail };
      }
      const claimed = v.ok ? v.mrtd : v.signed?.mrtd;
      if (claimed && row.mrtd && claimed.toLowerCase() !== row.mrtd.toLowerCase()) {
        return { ok: false, status: 403, detail: 'MRTD does not match agent record' };
      }
      const now = nowIso();
      await updateAgent(db, row.agent_id, {
        attestation: JSON.stringify(input.attestation),
        last_heartbeat: now,
        last_contact_at: now,
        ...(input.status !== null
          ? {
              status: input.status,
              ...(input.deploymentId !== null && (await ownsDeployment(row.agent_id, input.deploymentId))
                ? { current_deployment_id: input.deploymentId }
                : {}),
            }
          : {}),
      });
      await applyRefresh(row, token, v);
      return OK;
    },

    async applyAgentStatus(input: StatusInput & { agentId: string }): Promise<ControlResult> {
      const now = nowIso();
      // An agent speaks only for its own deployments: a deployment placed on another agent is left alone.
      const own = await ownsDeployment(input.agentId, input.deploymentId);
      const found = await updateAgent(db, input.agentId, {
        status: input.status,
        ...(own || !input.deploymentId ? { current_deployment_id: input.deploymentId || null } : {}),
        last_heartbeat: now,
        last_contact_at: now,
      });
      if (!found) return notFound;
      // A failed deployment is its workflow's to record (the API signals `deployment:<id>` after this update).
      return OK;
    },

    async applyAgentDeployed(input: DeployedInput & { agentId: string }): Promise<ControlResult> {
      const row = await getAgent(db, input.agentId);
      if (!row) return notFound;
      const found = (await db('deployments').where({ deployment_id: input.deploymentId }).first()) as
        DeploymentRow | undefined;
      // Another agent's deployment is not this agent's to report: nothing of it is touched. The deployment row itself
      // is written by its workflow (`deployment:<id>`), which the API signals after this update.
      const dep = found && found.agent_id === row.agent_id ? found : undefined;
      if (found && !dep) return { ok: true, body: { status: 'ok', service_id: input.serviceId } };
      const config = parseJsonColumn<Record<string, unknown>>(dep?.config ?? null, {});
      const serviceUrl =
        (typeof config.service_url === 'string' && config.service_url) ||
        (row.hostname ? `https://${row.hostname}` : null);
      const healthEndpoint = (typeof config.health_endpoint === 'string' && config.health_endpoint) || '/health';
      const now = nowIso();
      await updateAgent(db, row.agent_id, {
        status: 'deployed',
        current_deployment_id: input.deploymentId,
        last_heartbeat: now,
        last_contact_at: now,
        health_status: 'healthy',
        unhealthy_since: null,
        last_health_check: now,
        service_url: serviceUrl,
        health_endpoint: healthEndpoint,
      });
      return { ok: true, body: { status: 'ok', service_id: input.serviceId } };
    },

    /** Pull-mode refresh (background.md §2.1 step 4) with the same full policy as heartbeats. */
    async refreshAgentAttestation(input: { agentId: string; attestation: Record<string, unknown> }) {
      const row = await getAgent(db, input.agentId);
      const token = tokenOf(input.attestation);
      if (!row || token === '') return { verified: false };
      return { verified: await applyRefresh(row, token, await verifier.evaluate(token, row.node_size)) };
    },

    /** Agents with a hostname; `attest` when pull mode is on and the last check is older than the interval. */
    async listHealthTargets(_input: Record<string, never> = {}) {
      const [pull, seconds] = await Promise.all([
        settings.get('operational.agent_attestation_pull_enabled'),
        settingInt(settings, 'operational.agent_attestation_interval'),
      ]);
      const pullOn = pull.trim() === 'true' && seconds > 0;
      const rows = (await db('agents')
        .whereNotNull('hostname')
        .select('agent_id', 'hostname', 'last_attestation_check')) as Pick<
        AgentDbRow,
        'agent_id' | 'hostname' | 'last_attestation_check'
      >[];
      const due = (last: unknown) =>
        !last || Date.now() - new Date(last instanceof Date ? last : String(last)).getTime() > seconds * 1000;
      return {
        targets: rows.map((r) => ({
          agentId: r.agent_id,
          hostname: r.hostname!,
          attest: pullOn && due(r.last_attestation_check),
        })),
      };
    },

    /**
     * background.md §2.1 step 3; a healthy answer is also contact for stale clean-up (v1 ignored it). The health
     * columns are written only where they change (a new row version: the API re-renders that agent); the check and
     * contact times are refreshed on every probed agent without one (migration 20261201210000), in a few set-wise
     * statements per batch instead of one per agent. Idempotent: a retry writes the same state again.
     */
    async recordAgentHealth(input: { results: { agentId: string; healthy: boolean }[] }) {
      const now = nowIso();
      const healthy = input.results.filter((r) => r.healthy).map((r) => r.agentId);
      const unhealthy = input.results.filter((r) => !r.healthy).map((r) => r.agentId);
      await db.transaction(async (trx) => {
        for (let i = 0; i < healthy.length; i += 500) {
          const ids = healthy.slice(i, i + 500);
          await trx('agents')
            .whereIn('agent_id', ids)
            .andWhere((q) =>
              q.whereNull('health_status').orWhereNot('health_status', 'healthy').orWhereNotNull('unhealthy_since'),
            )
            .update({ health_status: 'healthy', unhealthy_since: null });
          await trx('agents').whereIn('agent_id', ids).update({ last_health_check: now, last_contact_at: now });
        }
        for (let i = 0; i < unhealthy.length; i += 500) {
          const ids = unhealthy.slice(i, i + 500);
          // Already unhealthy keeps its unhealthy_since (the start of the outage).
          await trx('agents')
            .whereIn('agent_id', ids)
            .andWhere((q) => q.whereNull('health_status').orWhereNot('health_status', 'unhealthy'))
            .update({ health_status: 'unhealthy', unhealthy_since: now });
          await trx('agents').whereIn('agent_id', ids).update({ last_health_check: now });
        }
      });
      return { recorded: input.results.length };
    },

    async readAgentStaleHours(_input: Record<string, never> = {}) {
      const h = Number.parseFloat(await settings.get('operational.agent_stale_hours'));
      return { hours: Number.isFinite(h) && h > 0 ? h : 24 };
    },

    async findStaleAgents(input: { cutoff: string }): Promise<{ agents: AgentRef[] }> {
      const rows = await listStaleAgents(db, input.cutoff);
      return { agents: rows.map((r) => ({ agentId: r.agent_id, tunnelId: r.tunnel_id, hostname: r.hostname })) };
    },

    /** Challenges issued before `before` are expired or spent (v1 swept them every 60 s from memory). */
    async purgeStaleNonces(input: { before: string }) {
      return { deleted: await purgeNonces(db, input.before) };
    },

    async deleteAgentRecord(input: { agentId: string }) {
      return { deleted: await deleteAgentCascade(db, input.agentId) };
    },

    /** api.md §2 reset; `needsTunnel` = verified without a hostname (the workflow then provisions one). */
    async resetAgentRecord(input: { agentId: string }) {
      const now = nowIso();
      const row = await getAgent(db, input.agentId);
      if (!row) return { found: false, needsTunnel: false };
      await updateAgent(db, input.agentId, {
        status: 'undeployed',
        last_heartbeat: now,
        current_deployment_id: null,
        attestation_valid: true,
        attestation_error: null,
        last_attestation_check: now,
        deployed_app: null,
      });
      return { found: true, needsTunnel: Boolean(row.verified) && !row.hostname };
    },

    async storeAgentTunnel(input: { agentId: string; tunnel: ProvisionedTunnel }) {
      await updateAgent(db, input.agentId, {
        tunnel_id: input.tunnel.tunnelId,
        hostname: input.tunnel.hostname,
        tunnel_token: unseal(deps.sealingKey, input.tunnel.tunnelToken),
        tunnel_error: null,
      });
    },
  };
}

export type AgentLifecycleActivities = ReturnType<typeof createAgentLifecycleActivities>;
