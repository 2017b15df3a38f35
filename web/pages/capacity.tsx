/** Capacity: warm-pool targets (upsert, delete, reconcile) and launch orders with their fulfilment workflows. */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { Action, Badge, Field, Show, Table, WorkflowLink, useLoad } from '../components';
import { short, when } from '../format';
import { workflowIds } from '../links';

interface Target {
  datacenter: string;
  node_size: string;
  min_warm_count: number;
  enabled: boolean;
  dispatch: boolean;
  eligible_agents: number;
  open_reservations: number;
  shortfall: number;
}
interface Order {
  order_id: string;
  datacenter: string;
  node_size: string;
  status: string;
  requested_count: number;
  vm_name: string | null;
  error: string | null;
  created_at: string;
}
interface Reconcile {
  eligible: boolean;
  total_shortfall: number;
  targets: { datacenter: string; node_size: string; eligible_count: number; shortfall: number }[];
}

const TARGETS = '/api/v1/admin/agents/capacity/targets';

export function CapacityPage() {
  const targets = useLoad(() => api.get<{ targets: Target[] }>(TARGETS));
  const orders = useLoad(() => api.get<{ orders: Order[] }>('/api/v1/admin/agents/capacity/orders'));
  const [datacenter, setDatacenter] = useState('');
  const [nodeSize, setNodeSize] = useState('');
  const [count, setCount] = useState('1');
  return (
    <section>
      <h1>Capacity</h1>
      <h2>Warm-pool targets</h2>
      <form class="inline" onSubmit={(e) => e.preventDefault()}>
        <Field
          label="Datacenter"
          name="datacenter"
          value={datacenter}
          set={setDatacenter}
          placeholder="gcp:us-central1-a"
        />
        <Field label="Node size" name="node_size" value={nodeSize} set={setNodeSize} placeholder="tiny" />
        <Field label="Min warm" name="min_warm_count" value={count} set={setCount} type="number" />
        <Action
          label="Save target"
          name="save-target"
          run={() =>
            api.put<Target>(TARGETS, {
              datacenter: datacenter.trim(),
              node_size: nodeSize.trim(),
              min_warm_count: Number(count),
            })
          }
          describe={(t) => `Target ${t.datacenter}/${t.node_size || 'any'}: shortfall ${t.shortfall}`}
          done={targets.reload}
        />
      </form>
      <Show loaded={targets}>
        {({ targets: list }) => (
          <>
            <Table
              head={['Datacenter', 'Size', 'Min warm', 'Enabled', 'Dispatch', 'Eligible', 'Reserved', 'Shortfall', '']}
              empty="No targets."
            >
              {list.map((t) => (
                <tr key={`${t.datacenter}/${t.node_size}`} data-target={`${t.datacenter}/${t.node_size}`}>
                  <td>{t.datacenter}</td>
                  <td>{t.node_size || 'any'}</td>
                  <td>{t.min_warm_count}</td>
                  <td>
                    <Badge value={t.enabled} />
                  </td>
                  <td>
                    <Badge value={t.dispatch} />
                  </td>
                  <td>{t.eligible_agents}</td>
                  <td>{t.open_reservations}</td>
                  <td class="shortfall">{t.shortfall}</td>
                  <td>
                    <Action
                      label="Delete"
                      name="delete-target"
                      danger
                      run={() =>
                        api.del(
                          `${TARGETS}?datacenter=${encodeURIComponent(t.datacenter)}&node_size=${encodeURIComponent(t.node_size)}`,
                        )
                      }
                      done={targets.reload}
                    />
                  </td>
                </tr>
              ))}
            </Table>
            <p>
              <Action
                label="Reconcile (no dispatch)"
                name="reconcile"
                disabled={list.length === 0}
                run={() =>
                  api.post<Reconcile>('/api/v1/admin/agents/capacity/reconcile', {
                    targets: list.map((t) => ({
                      datacenter: t.datacenter,
                      node_size: t.node_size,
                      min_count: t.min_warm_count,
                    })),
                    dispatch: false,
                  })
                }
                describe={(r) =>
                  `Total shortfall ${r.total_shortfall}: ${r.targets
                    .map(
                      (t) =>
                        `${t.datacenter}/${t.node_size || 'any'} eligible ${t.eligible_count}, short ${t.shortfall}`,
                    )
                    .join('; ')}`
                }
              />
            </p>
          </>
        )}
      </Show>
      <h2>Launch orders</h2>
      <Show loaded={orders}>
        {({ orders: list }) => (
          <Table
            head={['Order', 'Datacenter', 'Size', 'Status', 'Count', 'VM', 'Error', 'Created', '']}
            empty="No launch orders."
          >
            {list.map((o) => (
              <tr key={o.order_id} data-order={o.order_id}>
                <td class="mono" title={o.order_id}>
                  {short(o.order_id, 8)}
                </td>
                <td>{o.datacenter}</td>
                <td>{o.node_size}</td>
                <td>
                  <Badge value={o.status} />
                </td>
                <td>{o.requested_count}</td>
                <td>{o.vm_name ?? '—'}</td>
                <td>{o.error ?? ''}</td>
                <td>{when(o.created_at)}</td>
                <td>
                  <WorkflowLink id={workflowIds.launchOrder(o.order_id)} />
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Show>
    </section>
  );
}
