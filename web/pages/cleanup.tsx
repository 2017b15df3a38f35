/**
 * Cloud clean-up (api.md §12, POST /api/v1/admin/cleanup/orphans): a dry run first, its plan shown item by item —
 * every tunnel, DNS record, GCP instance and stale agent the real run would delete — and only then the real run of
 * the same request, whose result says what was deleted. Any failure shows the API's detail.
 */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { Action, Table } from '../components';

/** The plan (core/cloud-admin.ts OrphanPlan): exactly what the real run deletes. */
interface Plan {
  tunnels: { tunnel_id: string; name: string }[];
  dns_records: { record_id: string; name: string; content: string }[];
  gcp_instances: { name: string; zone: string; datacenter: string }[];
  stale_agents: { agent_id: string; vm_name: string; tunnel_id: string | null; hostname: string | null }[];
}
interface CfResult {
  tunnels_candidates: number;
  dns_candidates: number;
  tunnels_deleted: number;
  dns_deleted: number;
  tunnels_failed: number;
  dns_failed: number;
}
interface Counts {
  candidates: number;
  deleted: number;
  failed: number;
}
interface ExtResult {
  configured: boolean;
  dispatched: boolean;
  requested_count: number;
  status_code: number | null;
  detail: string | null;
}
/** The answer of workflows/orphan-cleanup.ts, dry run or real. */
export interface Report {
  dry_run: boolean;
  cloudflare_configured: boolean;
  gcp_configured: boolean;
  external_cloud_configured: boolean;
  stale_hours: number;
  plan: Plan;
  cloudflare: CfResult | null;
  gcp: Counts | null;
  stale_agents: Counts | null;
  external_cloud: ExtResult | null;
  detail: string | null;
}

function PlanView({ plan }: { plan: Plan }) {
  const total = plan.tunnels.length + plan.dns_records.length + plan.gcp_instances.length + plan.stale_agents.length;
  if (total === 0) return <p class="empty plan-empty">Nothing to delete.</p>;
  return (
    <Table head={['Kind', 'Name', 'Id', 'Where']} empty="Nothing to delete.">
      {[
        ...plan.tunnels.map((t) => (
          <tr key={`t:${t.tunnel_id}`} data-plan="tunnel" data-id={t.tunnel_id}>
            <td>Tunnel</td>
            <td>{t.name}</td>
            <td class="mono">{t.tunnel_id}</td>
            <td>Cloudflare</td>
          </tr>
        )),
        ...plan.dns_records.map((r) => (
          <tr key={`d:${r.record_id}`} data-plan="dns" data-id={r.record_id}>
            <td>DNS record</td>
            <td>{r.name}</td>
            <td class="mono">{r.record_id}</td>
            <td>→ {r.content}</td>
          </tr>
        )),
        ...plan.gcp_instances.map((i) => (
          <tr key={`g:${i.datacenter}:${i.name}`} data-plan="gcp" data-id={i.name}>
            <td>GCP instance</td>
            <td>{i.name}</td>
            <td class="mono">{i.name}</td>
            <td>{i.datacenter}</td>
          </tr>
        )),
        ...plan.stale_agents.map((a) => (
          <tr key={`a:${a.agent_id}`} data-plan="agent" data-id={a.agent_id}>
            <td>Stale agent</td>
            <td>{a.vm_name}</td>
            <td class="mono">{a.agent_id}</td>
            <td>{a.hostname ?? '—'}</td>
          </tr>
        )),
      ]}
    </Table>
  );
}

const counts = (c: Counts | null, configured = true) =>
  !configured || !c ? 'not configured' : `${c.deleted} deleted, ${c.failed} failed of ${c.candidates}`;

function ReportView({ r }: { r: Report }) {
  const cf = r.cloudflare;
  const ext = r.external_cloud;
  return (
    <div class="report" data-dry-run={String(r.dry_run)}>
      <h2>{r.dry_run ? 'Dry run: would delete' : 'Clean-up result'}</h2>
      <PlanView plan={r.plan} />
      <dl class="facts">
        <dt>Cloudflare</dt>
        <dd class="cf">
          {!r.cloudflare_configured || !cf
            ? 'not configured'
            : r.dry_run
              ? `${cf.tunnels_candidates} tunnel(s), ${cf.dns_candidates} DNS record(s) would be deleted`
              : `${cf.tunnels_deleted} tunnel(s), ${cf.dns_deleted} DNS record(s) deleted; ${cf.tunnels_failed + cf.dns_failed} failed`}
        </dd>
        <dt>GCP instances</dt>
        <dd class="gcp">
          {r.dry_run
            ? r.gcp_configured && r.gcp
              ? `${r.gcp.candidates} would be deleted`
              : 'not configured'
            : counts(r.gcp, r.gcp_configured)}
        </dd>
        <dt>Stale agents (silent {r.stale_hours} h)</dt>
        <dd class="stale">
          {r.stale_agents
            ? r.dry_run
              ? `${r.stale_agents.candidates} would be deleted`
              : counts(r.stale_agents)
            : 'not checked'}
        </dd>
        <dt>External cloud</dt>
        <dd class="external">
          {!ext || !ext.configured
            ? 'not configured'
            : `${ext.requested_count} resource(s) ${r.dry_run ? 'would be deleted' : ext.dispatched ? 'requested' : 'not dispatched'}${ext.detail ? ` — ${ext.detail}` : ''}`}
        </dd>
        <dt>Detail</dt>
        <dd class="detail">{r.detail ?? '—'}</dd>
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
  const size = (p: Plan) => p.tunnels.length + p.dns_records.length + p.gcp_instances.length + p.stale_agents.length;
  return (
    <section>
      <h1>Cloud clean-up</h1>
      <p class="note">
        Finds orphaned Cloudflare tunnels and DNS records, managed GCP instances no agent or order accounts for, and
        stale agents. Run the dry run, read its plan, then run the clean-up for real: its result lists what it deleted.
      </p>
      <Action
        label="Dry run"
        name="cleanup-dry-run"
        run={() => run(true)}
        describe={(r) => `Dry run finished: ${size(r.plan)} item(s) to delete`}
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
          describe={(r) => `Clean-up finished: ${size(r.plan)} item(s) handled`}
          done={setReal}
        />
      )}
      {real && <ReportView r={real} />}
    </section>
  );
}
