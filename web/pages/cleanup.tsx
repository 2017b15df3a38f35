/**
 * Cloud clean-up (api.md §12, POST /api/v1/admin/cleanup/orphans): a dry run first, its report shown, and only then
 * the real run of the same request. Any failure shows the API's detail.
 */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { Action } from '../components';

interface CfResult {
  tunnels_candidates?: unknown[];
  dns_candidates?: unknown[];
  tunnels_deleted?: unknown[];
  dns_deleted?: unknown[];
  tunnels_failed?: unknown[];
  dns_failed?: unknown[];
}
interface ExtResult {
  configured?: boolean;
  dispatched?: boolean;
  requested_count?: number;
  status_code?: number | null;
  detail?: string | null;
}
interface Report {
  dry_run: boolean;
  cloudflare_configured: boolean;
  external_cloud_configured: boolean;
  cloudflare: CfResult | null;
  external_cloud: ExtResult | null;
  detail: string | null;
}

const n = (v: unknown[] | undefined) => (Array.isArray(v) ? v.length : 0);

function ReportView({ r }: { r: Report }) {
  return (
    <div class="report" data-dry-run={String(r.dry_run)}>
      <h2>{r.dry_run ? 'Dry-run report' : 'Clean-up result'}</h2>
      <dl class="facts">
        <dt>Cloudflare</dt>
        <dd>
          {!r.cloudflare_configured || !r.cloudflare
            ? 'not configured'
            : r.dry_run
              ? `${n(r.cloudflare.tunnels_candidates)} tunnel(s), ${n(r.cloudflare.dns_candidates)} DNS record(s) would be deleted`
              : `${n(r.cloudflare.tunnels_deleted)} tunnel(s), ${n(r.cloudflare.dns_deleted)} DNS record(s) deleted; ${n(r.cloudflare.tunnels_failed) + n(r.cloudflare.dns_failed)} failed`}
        </dd>
        <dt>External cloud</dt>
        <dd>
          {!r.external_cloud
            ? 'not configured'
            : `${r.external_cloud.requested_count ?? 0} VM(s) ${r.dry_run ? 'would be deleted' : r.external_cloud.dispatched ? 'requested' : 'not dispatched'}${r.external_cloud.detail ? ` — ${r.external_cloud.detail}` : ''}`}
        </dd>
        <dt>Detail</dt>
        <dd>{r.detail ?? '—'}</dd>
      </dl>
      <details>
        <summary>Full report</summary>
        <pre>{JSON.stringify(r, null, 2)}</pre>
      </details>
    </div>
  );
}

export function CleanupPage() {
  const [dry, setDry] = useState<Report | null>(null);
  const [real, setReal] = useState<Report | null>(null);
  const run = (dry_run: boolean) => api.post<Report>('/api/v1/admin/cleanup/orphans', { dry_run });
  return (
    <section>
      <h1>Cloud clean-up</h1>
      <p class="note">
        Finds orphaned Cloudflare tunnels and DNS records and cloud VMs no agent accounts for. Run the dry run, read its
        report, then run the clean-up for real.
      </p>
      <Action
        label="Dry run"
        name="cleanup-dry-run"
        run={() => run(true)}
        describe={() => 'Dry run finished'}
        done={(r) => {
          setDry(r);
          setReal(null);
        }}
      />
      {dry && <ReportView r={dry} />}
      {dry && (
        <Action
          label="Run clean-up for real"
          name="cleanup-run"
          danger
          run={() => run(false)}
          describe={() => 'Clean-up finished'}
          done={setReal}
        />
      )}
      {real && <ReportView r={real} />}
    </section>
  );
}
