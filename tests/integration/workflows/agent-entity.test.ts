/**
 * `agent:<id>` applies agent-control updates one at a time (a Mutex around each handler's activity) and refuses
 * malformed input in its validators, before it enters history. Stub activities record when each call runs.
 */
import { WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { agentEntity } from '../../../workflows/agent-entity';
import {
  agentDeletedSignal,
  agentWorkflowId,
  deployedUpdate,
  heartbeatUpdate,
  statusUpdate,
  type ControlResult,
  type HeartbeatInput,
} from '../../../workflows/contracts/agents';
import { startStubWorker, type StubWorker } from '../../helpers/stub-worker';

const OK: ControlResult = { ok: true, body: { status: 'ok' } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('agentEntity handlers', () => {
  let w: StubWorker;
  const spans: { name: string; start: number; end: number }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const stub = (name: string) => async () => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const start = performance.now();
    await sleep(150);
    spans.push({ name, start, end: performance.now() });
    inFlight--;
    return OK;
  };

  beforeAll(async () => {
    w = await startStubWorker({
      applyHeartbeat: stub('heartbeat'),
      applyAgentStatus: stub('status'),
      applyAgentDeployed: stub('deployed'),
    });
  });
  afterAll(async () => {
    await w?.close();
  });

  const start = async (agentId: string) =>
    w.client.workflow.start<typeof agentEntity>('agentEntity', {
      taskQueue: w.taskQueue,
      workflowId: agentWorkflowId(agentId),
      args: [{ agentId }],
    });

  it('applies concurrent heartbeat + status + deployed updates one at a time', async () => {
    const agentId = randomUUID();
    const handle = await start(agentId);
    spans.length = 0;
    maxInFlight = 0;
    const hb: HeartbeatInput = { vmName: 'vm-1', attestation: {}, status: null, deploymentId: null };
    const results = await Promise.all([
      handle.executeUpdate(heartbeatUpdate, { args: [hb] }),
      handle.executeUpdate(statusUpdate, { args: [{ status: 'deploying', deploymentId: 'd1', error: null }] }),
      handle.executeUpdate(deployedUpdate, { args: [{ deploymentId: 'd1', serviceId: 's1', attestation: {} }] }),
    ]);
    expect(results).toEqual([OK, OK, OK]);
    expect(spans.map((s) => s.name).sort()).toEqual(['deployed', 'heartbeat', 'status']);
    expect(maxInFlight).toBe(1);
    const ordered = [...spans].sort((a, b) => a.start - b.start);
    for (let i = 1; i < ordered.length; i++) expect(ordered[i]!.start).toBeGreaterThanOrEqual(ordered[i - 1]!.end);
    await handle.signal(agentDeletedSignal);
    expect(await handle.result()).toEqual({ agentId, handled: 3 });
  });

  it('rejects malformed updates in the validator: no activity runs and nothing enters history', async () => {
    const agentId = randomUUID();
    const handle = await start(agentId);
    spans.length = 0;
    const bad = await Promise.allSettled([
      handle.executeUpdate(heartbeatUpdate, { args: [{ vmName: '', attestation: {}, status: null } as never] }),
      handle.executeUpdate(statusUpdate, { args: [{ status: 7, deploymentId: 'd1', error: null } as never] }),
      handle.executeUpdate(deployedUpdate, { args: [{ deploymentId: 'd1', serviceId: 's1' } as never] }),
    ]);
    for (const r of bad) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WorkflowUpdateFailedError);
    }
    expect(spans).toEqual([]);
    // Update-with-start as the API calls it: a valid call still works after the rejected ones.
    const ok = await w.client.workflow.executeUpdateWithStart(heartbeatUpdate, {
      args: [{ vmName: 'vm-2', attestation: {}, status: null, deploymentId: null }],
      startWorkflowOperation: new WithStartWorkflowOperation<typeof agentEntity>('agentEntity', {
        taskQueue: w.taskQueue,
        workflowId: agentWorkflowId(agentId),
        args: [{ agentId }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
    expect(ok).toEqual(OK);
    const events = (await handle.fetchHistory()).events ?? [];
    const accepted = events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
    const rejected = events.filter((e) => e.workflowExecutionUpdateRejectedEventAttributes);
    expect(accepted).toHaveLength(1);
    expect(rejected).toHaveLength(0);
    await handle.signal(agentDeletedSignal);
    expect(await handle.result()).toEqual({ agentId, handled: 1 });
  });
});
