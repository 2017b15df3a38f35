/**
 * The one door from agent reports into the deployment workflow. The agents' `POST /api/v1/agents/{id}/deployed`
 * handler (and a status/health report of `error` for a deployment) call this after authenticating the agent; the
 * workflow `deployment:<id>` then moves the deployment to running (or failed) and updates the agent row.
 */
import type { DeployedCallback } from '../workflows/contracts/deployments';
import type { AppDeps } from './deps';

export interface DeploymentCallback {
  deploymentId: string;
  agentId: string;
  ok: boolean;
  error?: string | null;
  serviceId?: string | null;
  attestation?: Record<string, unknown> | null;
}

/** Signals `deployment:<id>`; returns false (and does nothing) when no deployment workflow is running for it. */
export async function notifyDeploymentCallback(
  deps: Pick<AppDeps, 'workflows'>,
  cb: DeploymentCallback,
): Promise<boolean> {
  const payload: DeployedCallback = {
    agentId: cb.agentId,
    ok: cb.ok,
    error: cb.error ?? null,
    serviceId: cb.serviceId ?? null,
    attestation: compactAttestation(cb.attestation),
  };
  return deps.workflows.deployments.signalDeployed(cb.deploymentId, payload);
}

/** Keeps workflow history small: an attestation blob over 64 KiB is replaced by a marker. */
function compactAttestation(a: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  if (!a) return null;
  const text = JSON.stringify(a);
  return text.length > 65_536 ? { truncated: true, bytes: text.length } : a;
}
