/**
 * One agent: status, verification, owner, and its attestation chain — MRTD and RTMRs beside the trusted baseline,
 * differing characters highlighted. A tenant reaches it through /api/v1/me/agents/{id} (owner-or-admin): another
 * owner's agent answers 403 and nothing about it is fetched or shown.
 */
import { useState } from 'preact/hooks';
import { api, seg } from '../api';
import { Action, Badge, Field, Show, WorkflowLink, useLoad, useUi } from '../components';
import { diffRuns, when } from '../format';
import { workflowIds } from '../links';
import type { Agent } from './agents';

interface Measurement {
  name: string;
  actual: string | null;
  baseline: string | null;
  match: boolean | null;
}
interface Baseline {
  mrtd_type: string | null;
  node_size: string;
  measurements: Measurement[];
  trusted_mrtds: { mrtd: string; type: string }[];
}
interface Chain {
  verified: boolean;
  verification_error: string | null;
  mrtd_type: string | null;
  tcb_status: string | null;
  intel_ta_verified: boolean;
  intel_ta_claims: Record<string, unknown> | null;
  registered_at: string;
}

function Hex({ value, baseline }: { value: string | null; baseline: string | null }) {
  if (value === null) return <span class="muted">—</span>;
  return (
    <code class="hex">
      {diffRuns(value, baseline).map((r, i) =>
        r.differs ? (
          <mark key={i} class="differs">
            {r.text}
          </mark>
        ) : (
          <span key={i}>{r.text}</span>
        ),
      )}
    </code>
  );
}

function AttestationChain({ agentId }: { agentId: string }) {
  const loaded = useLoad(
    () =>
      Promise.all([
        api.get<Baseline>(`/api/v1/me/agents/${seg(agentId)}/baseline`),
        api.get<Chain>(`/api/v1/agents/${seg(agentId)}/attestation`),
      ]),
    [agentId],
  );
  return (
    <Show loaded={loaded}>
      {([b, chain]) => (
        <>
          <h2>Attestation chain</h2>
          <dl class="facts">
            <dt>Intel Trust Authority token</dt>
            <dd>
              <Badge value={chain.intel_ta_verified ? 'verified' : 'not-verified'} />
            </dd>
            <dt>TCB status</dt>
            <dd>{chain.tcb_status ?? '—'}</dd>
            <dt>MRTD trust</dt>
            <dd>{b.mrtd_type ?? 'not trusted'}</dd>
            <dt>Verification error</dt>
            <dd>{chain.verification_error ?? '—'}</dd>
          </dl>
          <table class="measurements">
            <thead>
              <tr>
                <th>Register</th>
                <th>Agent</th>
                <th>Trusted baseline</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {b.measurements.map((m) => (
                <tr key={m.name} class={m.match === false ? 'mismatch' : undefined} data-register={m.name}>
                  <th>{m.name.toUpperCase()}</th>
                  <td>
                    <Hex value={m.actual} baseline={m.baseline} />
                  </td>
                  <td>
                    <Hex value={m.baseline} baseline={null} />
                  </td>
                  <td>
                    <Badge value={m.match === null ? 'no-baseline' : m.match ? 'match' : 'differs'} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {chain.intel_ta_claims && (
            <details>
              <summary>Token claims</summary>
              <pre>{JSON.stringify(chain.intel_ta_claims, null, 2)}</pre>
            </details>
          )}
        </>
      )}
    </Show>
  );
}

function OwnerForm({ agent, done }: { agent: Agent; done: () => void }) {
  const [owner, setOwner] = useState(agent.github_owner ?? '');
  return (
    <form class="inline" onSubmit={(e) => e.preventDefault()}>
      <Field label="GitHub owner" name="github_owner" value={owner} set={setOwner} placeholder="login or org" />
      <Action
        label="Set owner"
        name="set-owner"
        run={() =>
          api.patch<{ github_owner: string | null }>(`/api/v1/agents/${seg(agent.agent_id)}/owner`, {
            github_owner: owner.trim() === '' ? null : owner.trim(),
          })
        }
        describe={(r) => `Owner set to ${r.github_owner ?? 'nobody'}`}
        done={done}
      />
    </form>
  );
}

export function AgentPage({ agentId }: { agentId: string }) {
  const { session } = useUi();
  const agent = useLoad(() => api.get<Agent>(`/api/v1/me/agents/${seg(agentId)}`), [agentId]);
  const [deleted, setDeleted] = useState(false);
  return (
    <section>
      <p>
        <a href="#/agents">← Agents</a>
      </p>
      <Show loaded={agent}>
        {(a) => (
          <>
            <h1>
              Agent {a.vm_name} <WorkflowLink id={workflowIds.agent(a.agent_id)} />
            </h1>
            <dl class="facts">
              <dt>Agent id</dt>
              <dd class="mono">{a.agent_id}</dd>
              <dt>Status</dt>
              <dd>
                <Badge value={a.status} />
              </dd>
              <dt>Verified</dt>
              <dd>
                <Badge value={a.verified} />
              </dd>
              <dt>Health</dt>
              <dd>{a.health_status}</dd>
              <dt>Owner</dt>
              <dd class="owner">{a.github_owner ?? '—'}</dd>
              <dt>Hostname</dt>
              <dd>{a.hostname ?? '—'}</dd>
              <dt>Datacenter / size</dt>
              <dd>
                {a.datacenter ?? '—'} / {a.node_size ?? '—'}
              </dd>
              <dt>Last heartbeat</dt>
              <dd>{when(a.last_heartbeat)}</dd>
              <dt>Deployment</dt>
              <dd>{a.current_deployment_id ?? '—'}</dd>
            </dl>
            {session.is_admin && !deleted && (
              <div class="actions">
                <OwnerForm agent={a} done={agent.reload} />
                <Action
                  label="Delete agent"
                  name="delete-agent"
                  danger
                  run={() => api.del<{ status: string }>(`/api/v1/agents/${seg(a.agent_id)}`)}
                  describe={() => 'Agent deleted'}
                  done={() => setDeleted(true)}
                />
              </div>
            )}
            {deleted ? <p class="result">Agent deleted.</p> : <AttestationChain agentId={a.agent_id} />}
          </>
        )}
      </Show>
    </section>
  );
}
