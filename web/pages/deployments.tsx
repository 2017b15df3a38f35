/** Deployments with state, agent and cost so far; a tenant sees only those on agents they own. */
import { api } from '../api';
import { Badge, Show, Table, WorkflowLink, useLoad, useUi } from '../components';
import { short, usd, when } from '../format';
import { workflowIds } from '../links';

interface Deployment {
  deployment_id: string;
  agent_id: string | null;
  status: string;
  app_name: string | null;
  app_version: string | null;
  account_id: string | null;
  created_at: string;
  error: string | null;
  total_charged: number;
}

export function DeploymentsPage() {
  const { session } = useUi();
  const path = session.is_admin ? '/api/v1/deployments' : '/api/v1/me/deployments';
  const list = useLoad(() => api.get<{ deployments: Deployment[] }>(path), [path]);
  return (
    <section>
      <h1>Deployments</h1>
      <Show loaded={list}>
        {({ deployments }) => (
          <Table
            head={['Deployment', 'App', 'State', 'Agent', 'Cost so far', 'Created', 'Error', '']}
            empty="No deployments."
          >
            {deployments.map((d) => (
              <tr key={d.deployment_id} data-deployment={d.deployment_id}>
                <td class="mono" title={d.deployment_id}>
                  {short(d.deployment_id, 8)}
                </td>
                <td>{d.app_name ? `${d.app_name}@${d.app_version ?? '?'}` : '—'}</td>
                <td>
                  <Badge value={d.status} />
                </td>
                <td class="mono">{d.agent_id ? <a href={`#/agents/${d.agent_id}`}>{short(d.agent_id, 8)}</a> : '—'}</td>
                <td class="cost">{usd(d.total_charged)}</td>
                <td>{when(d.created_at)}</td>
                <td>{d.error ?? ''}</td>
                <td>
                  <WorkflowLink id={workflowIds.deployment(d.deployment_id)} />
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Show>
    </section>
  );
}
