/**
 * Cloudflare (api.md §12): the configuration, every tunnel with its agent and orphaned/protected flags, and every
 * DNS record with its linked tunnel — GET /api/v1/admin/cloudflare/status|tunnels|dns. Each row can be deleted
 * (DELETE …/tunnels/{id}, …/dns/{id}) after an explicit confirmation; the protected control-plane tunnel cannot.
 */
import { useState } from 'preact/hooks';
import { api, seg } from '../api';
import { Action, Badge, Show, Table, useLoad } from '../components';
import { when } from '../format';

interface Status {
  configured: boolean;
  domain: string | null;
  protected_tunnel_names: string[];
}
interface Tunnel {
  tunnel_id: string;
  name: string;
  status: string;
  connection_count: number;
  created_at: string | null;
  agent_id: string | null;
  agent_vm_name: string | null;
  protected: boolean;
  orphaned: boolean;
  owner: string;
}
interface DnsRecord {
  record_id: string;
  name: string;
  content: string;
  proxied: boolean;
  linked_tunnel_id: string | null;
  orphaned: boolean;
}

/** Delete → "Delete <what>?" with Confirm and Cancel; only Confirm calls the API. */
function ConfirmDelete(props: { what: string; run: () => Promise<unknown>; done: () => void; disabled?: boolean }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" name="delete" class="danger" disabled={props.disabled} onClick={() => setAsking(true)}>
        Delete
      </button>
    );
  }
  return (
    <span class="confirm">
      Delete {props.what}?{' '}
      <Action label="Confirm delete" name="confirm-delete" danger run={props.run} done={props.done} />{' '}
      <button type="button" name="cancel" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

export function CloudflarePage() {
  const status = useLoad(() => api.get<Status>('/api/v1/admin/cloudflare/status'));
  const tunnels = useLoad(() =>
    api.get<{ tunnels: Tunnel[]; total: number; orphaned_count: number }>('/api/v1/admin/cloudflare/tunnels'),
  );
  const dns = useLoad(() =>
    api.get<{ records: DnsRecord[]; total: number; orphaned_count: number }>('/api/v1/admin/cloudflare/dns'),
  );
  const refresh = () => {
    tunnels.reload();
    dns.reload();
  };
  return (
    <section>
      <h1>Cloudflare</h1>
      <Show loaded={status}>
        {(s) => (
          <dl class="facts cf-status">
            <dt>Configured</dt>
            <dd class="configured">
              <Badge value={s.configured} />
            </dd>
            <dt>Domain</dt>
            <dd>{s.domain ?? '—'}</dd>
            <dt>Protected tunnels</dt>
            <dd>{s.protected_tunnel_names.join(', ')}</dd>
          </dl>
        )}
      </Show>
      <h2>Tunnels</h2>
      <Show loaded={tunnels}>
        {(t) => (
          <>
            <p class="note">
              {t.total} tunnel(s), {t.orphaned_count} orphaned.
            </p>
            <Table head={['Name', 'Id', 'Status', 'Agent', 'Owner', 'Created', '']} empty="No tunnels.">
              {t.tunnels.map((x) => (
                <tr key={x.tunnel_id} data-tunnel={x.tunnel_id} class={x.orphaned ? 'orphaned' : undefined}>
                  <td>{x.name}</td>
                  <td class="mono">{x.tunnel_id}</td>
                  <td>
                    <Badge value={x.status} /> {x.connection_count} conn.
                  </td>
                  <td>
                    {x.agent_id ? <a href={`#/agents/${seg(x.agent_id)}`}>{x.agent_vm_name ?? x.agent_id}</a> : '—'}
                  </td>
                  <td>
                    <Badge value={x.owner} />
                    {x.orphaned && <Badge value="orphaned" />}
                  </td>
                  <td>{x.created_at ? when(x.created_at) : '—'}</td>
                  <td>
                    {x.protected ? (
                      'protected'
                    ) : (
                      <ConfirmDelete
                        what={`tunnel ${x.name}`}
                        run={() => api.del(`/api/v1/admin/cloudflare/tunnels/${seg(x.tunnel_id)}`)}
                        done={refresh}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </Table>
          </>
        )}
      </Show>
      <h2>DNS records</h2>
      <Show loaded={dns}>
        {(d) => (
          <>
            <p class="note">
              {d.total} record(s), {d.orphaned_count} orphaned.
            </p>
            <Table head={['Name', 'Content', 'Linked tunnel', 'Proxied', '']} empty="No DNS records.">
              {d.records.map((r) => (
                <tr key={r.record_id} data-record={r.record_id} class={r.orphaned ? 'orphaned' : undefined}>
                  <td>{r.name}</td>
                  <td class="mono">{r.content}</td>
                  <td class="mono">
                    {r.linked_tunnel_id ?? '—'}
                    {r.orphaned && <Badge value="orphaned" />}
                  </td>
                  <td>
                    <Badge value={r.proxied} />
                  </td>
                  <td>
                    <ConfirmDelete
                      what={`record ${r.name}`}
                      run={() => api.del(`/api/v1/admin/cloudflare/dns/${seg(r.record_id)}`)}
                      done={refresh}
                    />
                  </td>
                </tr>
              ))}
            </Table>
          </>
        )}
      </Show>
    </section>
  );
}
