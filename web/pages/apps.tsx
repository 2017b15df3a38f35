/** The app catalog: apps, their versions, and each version's measurement per image (digest, signature, signer). */
import { api, seg } from '../api';
import { Badge, Show, Table, WorkflowLink, useLoad } from '../components';
import { short, when } from '../format';
import { workflowIds } from '../links';

interface App {
  name: string;
  description: string;
  source_repo: string | null;
  tags: string[];
}
interface ImageMeasurement {
  original?: string;
  digest?: string;
  signature_verified?: boolean | null;
  signed_by?: string | null;
  signature_error?: string | null;
}
interface Version {
  version_id: string;
  version: string;
  node_size: string;
  status: string;
  rejection_reason: string | null;
  published_at: string;
  attestation: { resolved_images?: Record<string, ImageMeasurement>; signature_mode?: string } | null;
}

function signature(m: ImageMeasurement) {
  if (m.signature_verified === true) return 'verified';
  if (m.signature_verified === false) return 'unverified';
  return 'not-checked';
}

function Versions({ app }: { app: string }) {
  const versions = useLoad(() => api.get<{ versions: Version[] }>(`/api/v1/apps/${seg(app)}/versions`), [app]);
  return (
    <Show loaded={versions}>
      {({ versions: list }) =>
        list.length === 0 ? (
          <p class="empty">No versions.</p>
        ) : (
          <>
            {list.map((v) => {
              const images = Object.entries(v.attestation?.resolved_images ?? {});
              return (
                <div class="version" key={v.version_id} data-version={v.version}>
                  <h3>
                    {v.version}
                    {v.node_size ? ` (${v.node_size})` : ''} <Badge value={v.status} />{' '}
                    <WorkflowLink id={workflowIds.measurement(app, v.version, v.node_size)} />
                  </h3>
                  <p class="muted">
                    Published {when(v.published_at)}
                    {v.rejection_reason ? ` — ${v.rejection_reason}` : ''}
                  </p>
                  <Table head={['Service', 'Image', 'Digest', 'Signature', 'Signer']} empty="Not measured yet.">
                    {images.map(([service, m]) => (
                      <tr key={service}>
                        <td>{service}</td>
                        <td>{m.original ?? '—'}</td>
                        <td class="mono" title={m.digest}>
                          {short(m.digest, 23)}
                        </td>
                        <td>
                          <Badge value={signature(m)} />
                          {m.signature_error ? <span class="muted"> {m.signature_error}</span> : null}
                        </td>
                        <td class="signer">{m.signed_by ?? '—'}</td>
                      </tr>
                    ))}
                  </Table>
                </div>
              );
            })}
          </>
        )
      }
    </Show>
  );
}

export function AppsPage() {
  const apps = useLoad(() => api.get<{ apps: App[] }>('/api/v1/apps'));
  return (
    <section>
      <h1>Apps and versions</h1>
      <Show loaded={apps}>
        {({ apps: list }) =>
          list.length === 0 ? (
            <p class="empty">No apps.</p>
          ) : (
            <>
              {list.map((a) => (
                <article class="app" key={a.name} data-app={a.name}>
                  <h2>{a.name}</h2>
                  <p class="muted">
                    {a.description || 'No description.'}
                    {a.source_repo ? ` Source: ${a.source_repo}` : ''}
                  </p>
                  <Versions app={a.name} />
                </article>
              ))}
            </>
          )
        }
      </Show>
    </section>
  );
}
