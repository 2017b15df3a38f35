/**
 * What placement (core/placement.ts `evaluatePlacement`) needs from the database, read in one place: every agent in
 * registration order with the owner of its current deployment (for upgrades), and the enabled capacity pool
 * targets. Read-only; the deploy route, its dry run and a failover's re-placement call it before choosing. An agent
 * a deployment failed over from shows as `resetting` (not placeable) until it has been told to undeploy (#20).
 */
import type { Knex } from 'knex';
import { type AgentRow, type CapacityPoolTargetRow, toBool } from '../db/tables';
import type { PlacementAgent } from '../placement';
import { deploymentOwners } from './deployments';
import { pendingResets } from './failover';

export interface PlacementInputs {
  agents: PlacementAgent[];
  enabledTargets: CapacityPoolTargetRow[];
}

export async function loadPlacementInputs(db: Knex): Promise<PlacementInputs> {
  const agents = (await db<AgentRow>('agents').orderBy([
    { column: 'registered_at', order: 'asc' },
    { column: 'agent_id', order: 'asc' },
  ])) as AgentRow[];
  const targets = (await db<CapacityPoolTargetRow>('capacity_pool_targets')) as CapacityPoolTargetRow[];
  const resets = await pendingResets(db);
  const owners = await deploymentOwners(
    db,
    agents.map((a) => a.current_deployment_id).filter((id): id is string => !!id),
  );
  return {
    agents: agents.map((a) => ({
      agent_id: a.agent_id,
      status: resets.has(a.agent_id) ? 'resetting' : a.status,
      node_size: a.node_size,
      datacenter: a.datacenter,
      verified: toBool(a.verified),
      verification_error: a.verification_error,
      hostname: a.hostname,
      health_status: a.health_status,
      deployed_app: a.deployed_app,
      github_owner: a.github_owner,
      current_deployment: a.current_deployment_id ? (owners.get(a.current_deployment_id) ?? null) : null,
    })),
    enabledTargets: targets.filter((t) => toBool(t.enabled)),
  };
}
