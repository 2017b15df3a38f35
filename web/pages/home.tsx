/** The public page at `/`: what this control plane is, its health and trusted MRTDs, and the way in. */
import { api } from '../api';
import { Badge, Show, useLoad } from '../components';

interface Health {
  status: string;
  version: string;
  temporal: string;
  proxy_url: string;
}

export function HomePage() {
  const health = useLoad(() => api.get<Health>('/health'));
  const mrtds = useLoad(() => api.get<{ total: number }>('/api/v1/trusted-mrtds'));
  return (
    <section class="home">
      <h1>easyenclave</h1>
      <p>Attested Intel TDX agents running confidential workloads, orchestrated by Temporal.</p>
      <Show loaded={health}>
        {(h) => (
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <Badge value={h.status} />
            </dd>
            <dt>Version</dt>
            <dd>{h.version}</dd>
            <dt>Orchestrator</dt>
            <dd>
              <Badge value={h.temporal} />
            </dd>
            <dt>Service proxy</dt>
            <dd>{h.proxy_url}</dd>
          </dl>
        )}
      </Show>
      <Show loaded={mrtds}>{(m) => <p>{m.total} trusted MRTD baseline(s).</p>}</Show>
      <p>
        <a class="button" href="/admin">
          Open the dashboard
        </a>{' '}
        <a href="/docs">API reference</a>
      </p>
    </section>
  );
}
