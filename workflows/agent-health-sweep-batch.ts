import { proxyActivities } from '@temporalio/workflow';
import type { AgentActivities, AgentHealthResult } from '../activities/agent';
import type { AgentLifecycleActivities } from '../activities/agent-lifecycle';
import type { AgentHealthSweepBatchInput, AgentHealthSweepBatchResult } from './contracts/health-sweep';

const db = proxyActivities<Pick<AgentLifecycleActivities, 'recordAgentHealth' | 'refreshAgentAttestation'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '200 ms' },
});
// One attempt: an agent that does not answer within the timeout is unhealthy for this pass; the next pass is 30 s away.
const probe = proxyActivities<Pick<AgentActivities, 'agentHealth'>>({
  startToCloseTimeout: '40 seconds',
  retry: { maximumAttempts: 1 },
});

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/**
 * One batch of the health sweep (child of `agentHealthSweep`): probe each agent's /api/health with bounded
 * concurrency, record every result in one write, then re-verify the attestations pull mode fetched.
 */
export async function agentHealthSweepBatch(input: AgentHealthSweepBatchInput): Promise<AgentHealthSweepBatchResult> {
  const limit = Math.max(1, input.probeConcurrency);
  const results = await pool(input.targets, limit, (t) =>
    probe
      .agentHealth({ agentId: t.agentId, hostname: t.hostname, attest: t.attest })
      .catch((): AgentHealthResult => ({ healthy: false, status: null, body: null })),
  );
  await db.recordAgentHealth({
    results: input.targets.map((t, j) => ({ agentId: t.agentId, healthy: results[j]!.healthy })),
  });
  const refresh = input.targets.flatMap((t, j) => {
    const att = results[j]!.body?.attestation;
    return t.attest && results[j]!.healthy && att && typeof att === 'object'
      ? [{ agentId: t.agentId, attestation: att as Record<string, unknown> }]
      : [];
  });
  await pool(refresh, limit, (r) => db.refreshAgentAttestation(r));
  return {
    checked: input.targets.length,
    healthy: results.filter((r) => r.healthy).length,
    attested: refresh.length,
  };
}
