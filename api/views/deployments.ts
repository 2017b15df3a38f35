/** What the deploy routes answer, built from stored rows and placement results (shapes: api/routes/deploy-schemas.ts). */
import type { z } from 'zod';
import { microsToUsd } from '../../core/money';
import { cloudOf, type OwnerScope, type PlacementResult } from '../../core/placement';
import type { Deployment } from '../../core/stores/deployments';
import { isDeploymentParty, type Viewer } from '../access';
import type { DeploymentView, Preflight } from '../routes/deploy-schemas';

/** Public metadata for everyone; compose and config only for the deployment's parties (`isDeploymentParty`). */
export function deploymentView(d: Deployment, viewer: Viewer | null): z.infer<typeof DeploymentView> {
  const party = isDeploymentParty(viewer, d);
  return {
    deployment_id: d.deployment_id,
    agent_id: d.agent_id,
    status: d.status,
    app_name: d.app_name,
    app_version: d.app_version,
    account_id: d.account_id,
    compose: party ? d.compose : null,
    config: party ? d.config : null,
    service_id: d.service_id,
    attestation: d.attestation,
    error: d.error,
    created_at: d.created_at,
    started_at: d.started_at,
    completed_at: d.completed_at,
    sla_class: d.sla_class,
    machine_size: d.machine_size,
    cpu_vcpus: d.cpu_vcpus,
    memory_gb: d.memory_gb,
    gpu_count: d.gpu_count,
    last_charge_time: d.last_charge_time,
    total_charged: microsToUsd(d.total_charged),
  };
}

/** The dry-run answer: which agent placement chose (or why none), for the caller's owner scope. */
export function preflightView(p: PlacementResult, owner: OwnerScope): z.infer<typeof Preflight> {
  const s = p.selected;
  return {
    dry_run: true,
    eligible: p.eligible,
    selected_agent_id: s?.agent_id ?? null,
    selected_node_size: s?.node_size ? s.node_size : null,
    selected_datacenter: s?.datacenter ? s.datacenter : null,
    selected_cloud: s ? cloudOf(s.datacenter) || null : null,
    reason: p.reason,
    owner_scope: owner.label,
    issues: p.issues,
  };
}
