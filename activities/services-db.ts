/**
 * The services registry (table `services`): one row per service name, pointing at the agent and deployment that
 * serve it; the proxy (api/routes/proxy.ts) forwards only to these. Written by the deployment workflow when a
 * deployment reaches `running`, removed when it ends. Also the catalog ingress look-up the same workflow applies
 * to the agent's tunnel before the push.
 *
 * Idempotent: register is an upsert keyed by name (a retry writes the same row), remove deletes only the row this
 * deployment registered (a newer deployment of the same service keeps its row).
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { parseJsonColumn, type AgentRow, type DeploymentRow } from '../core/db/tables';
import { getVersion } from '../core/stores/apps';
import type { IngressRuleInput } from './cloudflare';

export interface ServicesDbDeps {
  db: Knex;
}

function serviceNameOf(d: DeploymentRow): string | null {
  const config = parseJsonColumn<Record<string, unknown>>(d.config, {});
  const name = typeof config.service_name === 'string' && config.service_name ? config.service_name : d.app_name;
  return name ? name : null;
}

export function createServicesDbActivities({ db }: ServicesDbDeps) {
  return {
    async registerService(input: { deploymentId: string; agentId: string }): Promise<{ name: string | null }> {
      const d = (await db<DeploymentRow>('deployments').where({ deployment_id: input.deploymentId }).first()) as
        DeploymentRow | undefined;
      const name = d ? serviceNameOf(d) : null;
      if (!d || !name) return { name: null };
      const now = new Date().toISOString();
      await db('services')
        .insert({
          service_id: randomUUID(),
          name,
          description: d.app_name ? `${d.app_name}${d.app_version ? `@${d.app_version}` : ''}` : '',
          agent_id: input.agentId,
          deployment_id: input.deploymentId,
          endpoints: '{}',
          registered_at: now,
          health_status: 'healthy',
          last_health_check: now,
        })
        .onConflict('name')
        .merge(['agent_id', 'deployment_id', 'description', 'registered_at', 'health_status', 'last_health_check']);
      return { name };
    },

    async removeService(input: { deploymentId: string }): Promise<{ removed: number }> {
      return { removed: await db('services').where({ deployment_id: input.deploymentId }).delete() };
    },

    /**
     * The ingress of the catalog version a deployment runs, with the agent's tunnel; null when there is nothing to
     * apply (not a catalog deploy, no ingress, no tunnel).
     */
    async loadCatalogIngress(input: {
      deploymentId: string;
      agentId: string;
    }): Promise<{ tunnelId: string; hostname: string; rules: IngressRuleInput[] } | null> {
      const d = (await db<DeploymentRow>('deployments').where({ deployment_id: input.deploymentId }).first()) as
        DeploymentRow | undefined;
      if (!d?.app_name || !d.app_version) return null;
      const agent = (await db<AgentRow>('agents').where({ agent_id: input.agentId }).first()) as AgentRow | undefined;
      if (!agent?.tunnel_id || !agent.hostname) return null;
      const v =
        (await getVersion(db, d.app_name, d.app_version, agent.node_size ?? '')) ??
        (await getVersion(db, d.app_name, d.app_version, ''));
      const rules = (v?.ingress ?? []).filter((r) => Number.isInteger(r?.port));
      if (rules.length === 0) return null;
      return {
        tunnelId: agent.tunnel_id,
        hostname: agent.hostname,
        rules: rules.map((r) => (r.path ? { port: r.port, path: r.path } : { port: r.port })),
      };
    },
  };
}

export type ServicesDbActivities = ReturnType<typeof createServicesDbActivities>;
