/**
 * Links into the Temporal Web UI for the objects a workflow manages. The ids follow workflows/contracts/* (the
 * unit test tests/unit/web-links.test.ts checks them against the contract helpers; the contracts import the
 * Temporal SDK, which does not belong in a browser bundle). Pure; no DOM.
 */
export interface TemporalUi {
  temporal_ui_url: string;
  temporal_namespace: string;
}

export const workflowIds = {
  agent: (agentId: string) => `agent:${agentId}`,
  deployment: (deploymentId: string) => `deployment:${deploymentId}`,
  measurement: (appName: string, version: string, nodeSize: string) =>
    `measure:${appName}:${version}${nodeSize ? `:${nodeSize}` : ''}`,
  launchOrder: (orderId: string) => `launch-order:${orderId}`,
};

/** The Web UI page of a workflow id (its latest run), or null when no UI is configured. */
export function workflowUrl(ui: TemporalUi | null, workflowId: string): string | null {
  if (!ui || ui.temporal_ui_url === '') return null;
  return `${ui.temporal_ui_url}/namespaces/${encodeURIComponent(ui.temporal_namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
