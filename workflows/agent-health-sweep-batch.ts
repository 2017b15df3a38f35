import { log, patched, proxyActivities } from '@temporalio/workflow';
import type { AgentActivities, AgentHealthResult } from '../activities/agent';
import type { AgentLifecycleActivities } from '../activities/agent-lifecycle';
import type { FailoverDbActivities } from '../activities/failover-db';
import { failureMessageOf } from './contracts/failures';
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

// One attempt each: an agent that does not take the undeploy now is tried again on the next pass, 30 s away.
const reset = proxyActivities<Pick<AgentActivities, 'agentUndeploy'>>({
  startToCloseTimeout: '40 seconds',
  retry: { maximumAttempts: 1 },
});
const resets = proxyActivities<Pick<FailoverDbActivities, 'clearAgentReset'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '200 ms' },
});
/** Agents a failover left are told to undeploy when they answer again (issue #20). */
const RESET_PATCH = 'health-sweep-reset-v1';

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
  const out = {
    checked: input.targets.length,
    healthy: results.filter((r) => r.healthy).length,
    attested: refresh.length,
  };
  const back = input.targets.filter((t, j) => t.resetFor && results[j]!.healthy);
  if (back.length === 0 || !patched(RESET_PATCH)) return out;
  // The agent is back but a deployment moved away from it while it was lost: stop that workload before anything
  // is placed on it again (the deployment never runs on two agents at once).
  const done = await pool(back, limit, (t) =>
    reset
      .agentUndeploy({ agentId: t.agentId, hostname: t.hostname })
      .then(() => resets.clearAgentReset({ agentId: t.agentId, deploymentId: t.resetFor! }))
      .then(() => 1)
      .catch((e: unknown) => {
        log.warn(`reset of returning agent ${t.agentId} failed: ${failureMessageOf(e)}`);
        return 0;
      }),
  );
  return { ...out, reset: done.reduce((a, b) => a + b, 0) };
}
