import { proxyActivities } from '@temporalio/workflow';
import type { AgentActivities, AgentHealthResult } from '../activities/agent';
import type { AgentLifecycleActivities } from '../activities/agent-lifecycle';
import type { AgentHealthSweepResult } from './contracts/agents';

const db = proxyActivities<AgentLifecycleActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '200 ms' },
});
// One attempt: an agent that does not answer within the timeout is unhealthy for this pass; the next pass is 30 s away.
const probe = proxyActivities<Pick<AgentActivities, 'agentHealth'>>({
  startToCloseTimeout: '40 seconds',
  retry: { maximumAttempts: 1 },
});

/** Concurrent probes per batch: bounded so a large fleet does not flood the worker or the history. */
const BATCH = 16;

/**
 * Started every 30 s by the `agent-health-sweep` schedule (background.md §2.1): GET /api/health on every agent with
 * a hostname, health_status/unhealthy_since/last_health_check (and last contact) recorded, and in pull mode the
 * returned attestation re-verified under the full trust policy.
 */
export async function agentHealthSweep(): Promise<AgentHealthSweepResult> {
  const { targets } = await db.listHealthTargets({});
  let healthy = 0;
  let attested = 0;
  for (let i = 0; i < targets.length; i += BATCH) {
    const batch = targets.slice(i, i + BATCH);
    const results = await Promise.all(
      batch.map((t) =>
        probe
          .agentHealth({ agentId: t.agentId, hostname: t.hostname, attest: t.attest })
          .catch((): AgentHealthResult => ({ healthy: false, status: null, body: null })),
      ),
    );
    await db.recordAgentHealth({
      results: batch.map((t, j) => ({ agentId: t.agentId, healthy: results[j]!.healthy })),
    });
    healthy += results.filter((r) => r.healthy).length;
    for (const [j, t] of batch.entries()) {
      const att = results[j]!.body?.attestation;
      if (t.attest && results[j]!.healthy && att && typeof att === 'object') {
        await db.refreshAgentAttestation({ agentId: t.agentId, attestation: att as Record<string, unknown> });
        attested++;
      }
    }
  }
  return { checked: targets.length, healthy, attested };
}
