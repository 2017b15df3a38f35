import {
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { AgentActivities, AgentHealthResult } from '../activities/agent';
import type { AgentLifecycleActivities } from '../activities/agent-lifecycle';
import type { HealthSweepActivities } from '../activities/health-sweep';
import { agentHealthSweepBatch } from './agent-health-sweep-batch';
import type { AgentHealthSweepResult } from './contracts/agents';
import { agentUnhealthySignal, deploymentWorkflowId } from './contracts/deployments';
import { failureMessageOf } from './contracts/failures';
import {
  HEALTH_SWEEP_DEFAULTS,
  HEALTH_SWEEP_MAX_BATCH,
  healthSweepBatchId,
  sweepOption,
  type AgentHealthSweepInput,
  type AgentHealthSweepReport,
} from './contracts/health-sweep';

const db = proxyActivities<AgentLifecycleActivities & HealthSweepActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '200 ms' },
});
// One attempt: an agent that does not answer within the timeout is unhealthy for this pass; the next pass is 30 s away.
const probe = proxyActivities<Pick<AgentActivities, 'agentHealth'>>({
  startToCloseTimeout: '40 seconds',
  retry: { maximumAttempts: 1 },
});

/** The sweep tells deployment workflows their agent is lost (issue #20); runs before it did not. */
const FAILOVER_PATCH = 'health-sweep-failover-v1';

/** Concurrent probes per batch of the pre-batching sweep (kept for runs started before the patch). */
const BATCH = 16;

/**
 * Started every 30 s by the `agent-health-sweep` schedule (background.md §2.1): GET /api/health on every agent with
 * a hostname, health_status/unhealthy_since/last_health_check (and last contact) recorded, and in pull mode the
 * returned attestation re-verified under the full trust policy.
 *
 * Runs that began before `health-sweep-batches` kept every probe in one history (~3.6 events per agent: the
 * 51,200-event cap near 14,000 agents); they replay on the old path. New runs page through the fleet and fan out
 * to `agentHealthSweepBatch` children, continuing-as-new every `batchesPerRun` children
 * (workflows/contracts/health-sweep.ts), so every history stays bounded whatever the fleet size.
 */
export async function agentHealthSweep(
  input: AgentHealthSweepInput = {},
): Promise<AgentHealthSweepResult | AgentHealthSweepReport> {
  if (patched('health-sweep-batches')) return batchedSweep(input);
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

async function batchedSweep(input: AgentHealthSweepInput): Promise<AgentHealthSweepReport> {
  const d = HEALTH_SWEEP_DEFAULTS;
  const batchSize = sweepOption(input.batchSize, d.batchSize, HEALTH_SWEEP_MAX_BATCH);
  const probeConcurrency = sweepOption(input.probeConcurrency, d.probeConcurrency, 256);
  const parallelBatches = sweepOption(input.parallelBatches, d.parallelBatches, 64);
  const batchesPerRun = Math.max(parallelBatches, sweepOption(input.batchesPerRun, d.batchesPerRun, 1000));
  const info = workflowInfo();
  const p = input.progress ?? {
    afterAgentId: null,
    batches: 0,
    runs: 1,
    startedAtMs: info.startTime.getTime(),
    checked: 0,
    healthy: 0,
    attested: 0,
  };
  let runBatches = 0;
  for (;;) {
    const page = await db.listHealthTargetPage({ afterAgentId: p.afterAgentId, limit: batchSize * parallelBatches });
    const chunks: (typeof page.targets)[] = [];
    for (let i = 0; i < page.targets.length; i += batchSize) chunks.push(page.targets.slice(i, i + batchSize));
    const results = await Promise.all(
      chunks.map((targets, j) =>
        executeChild(agentHealthSweepBatch, {
          workflowId: healthSweepBatchId(info.workflowId, p.batches + j),
          args: [{ targets, probeConcurrency }],
        }),
      ),
    );
    for (const r of results) {
      p.checked += r.checked;
      p.healthy += r.healthy;
      p.attested += r.attested;
    }
    p.batches += chunks.length;
    runBatches += chunks.length;
    if (page.nextAfterAgentId === null) break;
    p.afterAgentId = page.nextAfterAgentId;
    if (runBatches + parallelBatches > batchesPerRun) {
      // Progress (a cursor and counters) is all that crosses: the new run's history starts empty.
      await continueAsNew<typeof agentHealthSweep>({
        batchSize,
        probeConcurrency,
        parallelBatches,
        batchesPerRun,
        progress: { ...p, runs: p.runs + 1 },
      });
    }
  }
  if (patched(FAILOVER_PATCH)) await signalLostDeployments();
  const { durationMs } = await db.reportHealthSweep({
    startedAtMs: p.startedAtMs,
    checked: p.checked,
    healthy: p.healthy,
    attested: p.attested,
    batches: p.batches,
    runs: p.runs,
  });
  return { checked: p.checked, healthy: p.healthy, attested: p.attested, batches: p.batches, runs: p.runs, durationMs };
}

/**
 * Failover (issue #20): every running deployment whose agent has been unhealthy or silent past
 * `operational.reassign_after_seconds` gets an `agentUnhealthy` signal; its own workflow moves it (one writer per
 * row). A deployment without a live workflow (rows from before workflows) is left as it is.
 */
async function signalLostDeployments(): Promise<void> {
  const { lost } = await db.listLostDeployments({});
  for (const l of lost) {
    await getExternalWorkflowHandle(deploymentWorkflowId(l.deploymentId))
      .signal(agentUnhealthySignal, { agentId: l.agentId, since: l.since, reason: l.reason })
      .catch((e: unknown) => log.warn(`could not signal deployment ${l.deploymentId}: ${failureMessageOf(e)}`));
  }
}
