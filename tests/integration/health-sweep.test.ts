/**
 * The health sweep at fleet scale: a few hundred agents behind one fake agent server, a small batch size, and the
 * proof that the work fans out to child batches, the parent continues-as-new, every agent is probed and recorded
 * once, and no history grows past its bound.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthSweepBatchId, type AgentHealthSweepReport } from '../../workflows/contracts/health-sweep';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { seedAgent } from '../helpers/seed';
import { startStack, type Stack } from '../helpers/stack';

const AGENTS = 240;
const OPTIONS = { batchSize: 20, probeConcurrency: 4, parallelBatches: 3, batchesPerRun: 4 };
/** A child probes 20 agents (≤ 12 events each, pull mode off so ~6) plus its start/record/end events. */
const CHILD_BOUND = 12 * OPTIONS.batchSize + 20;
/** A parent run: ≤ batchesPerRun children (~6 events each) and one page activity per parallelBatches children. */
const PARENT_BOUND = 100;

async function historyLength(client: Client, workflowId: string, runId?: string) {
  const h = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return h.events ?? [];
}

describe('batched agent health sweep', () => {
  let stack: Stack;
  let fake: FakeAgentServer;
  const unhealthy = new Set<string>();
  beforeAll(async () => {
    fake = await startFakeAgent();
    stack = await startStack({ env: { AGENT_DIRECT_URL: fake.directUrlTemplate } });
    for (let i = 0; i < AGENTS; i++) {
      const { agent_id } = await seedAgent(stack.db);
      if (i % 10 === 0) {
        fake.agent(agent_id).healthMode = 'unhealthy';
        unhealthy.add(agent_id);
      }
    }
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
    await fake?.close();
  });

  it('fans out in child batches, continues-as-new, records every agent, and keeps every history bounded', async () => {
    const workflowId = 'test-health-sweep-scale';
    const handle = await stack.client.workflow.start('agentHealthSweep', {
      taskQueue: stack.taskQueue,
      workflowId,
      args: [OPTIONS],
    });
    const report = (await handle.result()) as AgentHealthSweepReport;
    expect(report).toMatchObject({
      checked: AGENTS,
      healthy: AGENTS - unhealthy.size,
      attested: 0,
      batches: AGENTS / OPTIONS.batchSize,
    });
    // 12 batches, 3 at a time, at most 4 per run → 4 runs (3 continue-as-new).
    expect(report.runs).toBe(4);
    expect(report.durationMs).toBeGreaterThan(0);

    // Every agent was probed exactly once and its health written.
    const probes = fake.requests.filter((r) => r.path === '/api/health');
    expect(probes).toHaveLength(AGENTS);
    expect(new Set(probes.map((r) => r.agentId)).size).toBe(AGENTS);
    const rows = await stack.db('agents').select('agent_id', 'health_status', 'last_health_check');
    for (const r of rows) {
      expect(r.last_health_check).toBeTruthy();
      expect(r.health_status).toBe(unhealthy.has(r.agent_id) ? 'unhealthy' : 'healthy');
    }

    // Walk the parent's run chain: each run's history is small and all but the last end in continue-as-new.
    let runId: string | undefined = handle.firstExecutionRunId;
    const runLengths: number[] = [];
    while (runId) {
      const events = await historyLength(stack.client, workflowId, runId);
      runLengths.push(events.length);
      const last = events.at(-1)!;
      runId = last.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    expect(runLengths).toHaveLength(4);
    for (const n of runLengths) expect(n).toBeLessThan(PARENT_BOUND);

    for (let b = 0; b < report.batches; b++) {
      const events = await historyLength(stack.client, healthSweepBatchId(workflowId, b));
      expect(events.length).toBeGreaterThan(OPTIONS.batchSize); // it really probed its agents
      expect(events.length).toBeLessThan(CHILD_BOUND);
    }
  });

  it('an oversized batch size is clamped so a child history stays under 10,000 events', async () => {
    const { HEALTH_SWEEP_MAX_BATCH, sweepOption } = await import('../../workflows/contracts/health-sweep');
    expect(sweepOption(1_000_000, 100, HEALTH_SWEEP_MAX_BATCH)).toBe(HEALTH_SWEEP_MAX_BATCH);
    expect(12 * HEALTH_SWEEP_MAX_BATCH + 20).toBeLessThan(10_000);
    expect(sweepOption(0, 100, HEALTH_SWEEP_MAX_BATCH)).toBe(100);
    expect(sweepOption(2.5, 100, HEALTH_SWEEP_MAX_BATCH)).toBe(100);
  });
});
