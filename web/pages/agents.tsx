/** Agents: the admin sees every agent, a GitHub tenant only the agents they own (/api/v1/me/agents). */
import { api } from '../api';
import { Badge, Show, Table, WorkflowLink, useLoad, useUi } from '../components';
import { short, when } from '../format';
import { workflowIds } from '../links';

export interface Agent {
  agent_id: string;
  vm_name: string;
  status: string;
  verified: boolean;
  health_status: string;
  github_owner: string | null;
  datacenter: string | null;
  node_size: string | null;
  mrtd: string;
  hostname: string | null;
  last_heartbeat: string;
  current_deployment_id: string | null;
}

export function AgentsPage() {
  const { session } = useUi();
  const path = session.is_admin ? '/api/v1/agents' : '/api/v1/me/agents';
  const agents = useLoad(() => api.get<{ agents: Agent[]; total: number }>(path), [path]);
  return (
    <section>
      <h1>Agents</h1>
      {!session.is_admin && <p class="note">Agents owned by your GitHub login or organizations.</p>}
      <Show loaded={agents}>
        {({ agents: list }) => (
          <Table
            head={['VM', 'Status', 'Verified', 'Health', 'Owner', 'Datacenter', 'Size', 'MRTD', 'Last heartbeat', '']}
            empty="No agents."
          >
            {list.map((a) => (
              <tr key={a.agent_id} data-agent={a.agent_id}>
                <td>
                  <a href={`#/agents/${a.agent_id}`}>{a.vm_name}</a>
                </td>
                <td>
                  <Badge value={a.status} />
                </td>
                <td>
                  <Badge value={a.verified} />
                </td>
                <td>{a.health_status}</td>
                <td>{a.github_owner ?? '—'}</td>
                <td>{a.datacenter ?? '—'}</td>
                <td>{a.node_size ?? '—'}</td>
                <td class="mono">{short(a.mrtd, 16)}</td>
                <td>{when(a.last_heartbeat)}</td>
                <td>
                  <WorkflowLink id={workflowIds.agent(a.agent_id)} />
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Show>
    </section>
  );
}
