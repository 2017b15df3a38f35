/**
 * `deployment:<id>` with stub activities: every branch of workflows/deploy.ts without a database, an agent or the
 * API — placement refused, push failure, the agent's callback (failed, from another agent, never), undeploy during
 * the deploy and while running, billing's stop, the agent lost before and after it ran. Each stub records the
 * calls of its deployment; the tests assert the result, the placement answer and the activity calls.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { deployment } from '../../../workflows/deploy';
import type { agentEntity } from '../../../workflows/agent-entity';
import { agentDeletedSignal, agentWorkflowId } from '../../../workflows/contracts/agents';
import {
  agentLostSignal,
  deployedSignal,
  deploymentWorkflowId,
  placementUpdate,
  stoppedElsewhereSignal,
  undeployUpdate,
  type DeploymentInput,
  type DeploymentRecordInput,
} from '../../../workflows/contracts/deployments';
import { startStubWorker, type StubWorker } from '../../helpers/stub-worker';
import { waitFor } from '../../helpers/wait';

const AGENT = 'agent-1';
const HOST = 'agent-1.example.test';

interface Script {
  /** Agent the reservation claims; null = every candidate was taken. */
  reserve: string | null;
  /** agentDeploy throws this (non-retryable) when set. */
  pushFails?: string;
  /** loadCatalogIngress answers rules and updateTunnelIngress fails. */
  ingressFails?: boolean;
}

interface Call {
  name: string;
  input: any;
}

const record: DeploymentRecordInput = {
  composeSha256: 'a'.repeat(64),
  config: {},
  accountId: 'acct-1',
  appName: 'app',
  appVersion: null,
  slaClass: 'adhoc',
  machineSize: 'default',
  cpuVcpus: 2,
  memoryGb: 4,
  gpuCount: 0,
  createdAt: '2026-01-01T00:00:00.000Z',
  githubOwner: null,
};

describe('deployment workflow (stub activities)', () => {
  let w: StubWorker;
  const scripts = new Map<string, Script>();
  const calls = new Map<string, Call[]>();
  let currentDeployment = '';
  const note = (id: string, name: string, input: unknown) => {
    const list = calls.get(id) ?? [];
    list.push({ name, input });
    calls.set(id, list);
  };
  const rec =
    (name: string, result: (input: any, script: Script) => unknown = () => undefined) =>
    async (input: any) => {
      note(input.deploymentId, name, input);
      return result(input, scripts.get(input.deploymentId)!);
    };
  // agentUndeploy and updateTunnelIngress carry no deployment id: recorded under the test's deployment (the tests
  // run one at a time, each to its workflow's end).
  const byAgent = (name: string, fail?: (s: Script) => string | undefined) => async (input: any) => {
    note(currentDeployment, name, input);
    const why = fail?.(scripts.get(currentDeployment)!);
    if (why) throw ApplicationFailure.nonRetryable(why, 'StubFailure');
    return { ok: true };
  };

  beforeAll(async () => {
    w = await startStubWorker({
      createDeploymentRecord: rec('createDeploymentRecord'),
      reserveDeploymentAgent: rec('reserveDeploymentAgent', (_i, s) => ({
        agentId: s.reserve,
        hostname: s.reserve ? HOST : null,
        tried: 1,
      })),
      failDeployment: rec('failDeployment'),
      markDeploymentRunning: rec('markDeploymentRunning'),
      markDeploymentStopped: rec('markDeploymentStopped', () => ({ stopped: true, finalCharge: 0 })),
      loadCatalogIngress: rec('loadCatalogIngress', (i, s) =>
        s.ingressFails ? { agentId: i.agentId, hostname: HOST, rules: [] } : null,
      ),
      registerService: rec('registerService'),
      removeService: rec('removeService'),
      agentDeploy: rec('agentDeploy', (_i, s) => {
        if (s.pushFails) throw ApplicationFailure.nonRetryable(s.pushFails, 'AgentRejected');
        return { ok: true };
      }),
      agentUndeploy: byAgent('agentUndeploy'),
      updateTunnelIngress: byAgent('updateTunnelIngress', (s) => (s.ingressFails ? 'cloudflare said no' : undefined)),
    });
  });
  afterAll(async () => {
    await w?.close();
  });

  const names = (id: string) => (calls.get(id) ?? []).map((c) => c.name);
  const callOf = (id: string, name: string) => calls.get(id)?.find((c) => c.name === name)?.input;

  async function start(
    script: Script,
    timeoutSeconds = 60,
  ): Promise<{ id: string; handle: WorkflowHandle<typeof deployment> }> {
    const id = randomUUID();
    scripts.set(id, script);
    currentDeployment = id;
    const input: DeploymentInput = {
      deploymentId: id,
      record,
      candidates: [{ agentId: AGENT, expectedStatus: 'undeployed' }],
      callbackTimeoutSeconds: timeoutSeconds,
    };
    const handle = await w.client.workflow.start<typeof deployment>('deployment', {
      taskQueue: w.taskQueue,
      workflowId: deploymentWorkflowId(id),
      args: [input],
    });
    return { id, handle };
  }
  const pushed = (id: string) =>
    waitFor(
      `agentDeploy of ${id}`,
      () => names(id),
      (n) => n.includes('agentDeploy'),
    );
  const running = (id: string) =>
    waitFor(
      `markDeploymentRunning of ${id}`,
      () => names(id),
      (n) => n.includes('markDeploymentRunning'),
    );

  it('inserts its row first; placement refused when every candidate is taken: failed, nothing pushed', async () => {
    const { id, handle } = await start({ reserve: null });
    expect(await handle.executeUpdate(placementUpdate)).toEqual({
      ok: false,
      error: expect.stringContaining('No eligible agents available'),
    });
    const result = await handle.result();
    expect(result).toMatchObject({ deploymentId: id, agentId: null, outcome: 'failed' });
    expect(names(id)).toEqual(['createDeploymentRecord', 'reserveDeploymentAgent', 'failDeployment', 'removeService']);
    expect(callOf(id, 'createDeploymentRecord')).toEqual({ deploymentId: id, record });
    expect(callOf(id, 'failDeployment')).toMatchObject({ deploymentId: id, agentId: null, error: result.error });
  });

  it('a push the agent refuses fails the deployment with the typed failure message; no callback is awaited', async () => {
    const { id, handle } = await start({ reserve: AGENT, pushFails: 'agent answered 500' });
    expect(await handle.executeUpdate(placementUpdate)).toEqual({ ok: true, agentId: AGENT });
    const result = await handle.result();
    expect(result).toEqual({
      deploymentId: id,
      agentId: AGENT,
      outcome: 'failed',
      error: 'Agent rejected deployment: agent answered 500',
    });
    expect(callOf(id, 'agentDeploy')).toEqual({ agentId: AGENT, hostname: HOST, deploymentId: id });
    expect(callOf(id, 'failDeployment')).toEqual({ deploymentId: id, agentId: AGENT, error: result.error });
    expect(names(id)).not.toContain('markDeploymentRunning');
    expect(names(id)).not.toContain('agentUndeploy');
  });

  it('a failed callback stops what the agent started and records the agent’s error', async () => {
    const { id, handle } = await start({ reserve: AGENT });
    await pushed(id);
    await handle.signal(deployedSignal, { agentId: AGENT, ok: false, error: 'compose up failed' });
    expect(await handle.result()).toEqual({
      deploymentId: id,
      agentId: AGENT,
      outcome: 'failed',
      error: 'compose up failed',
    });
    expect(callOf(id, 'agentUndeploy')).toEqual({ agentId: AGENT, hostname: HOST });
    expect(names(id)).not.toContain('markDeploymentRunning');
  });

  it('a callback from another agent is ignored; no answer in time fails it and stops the agent', async () => {
    const { id, handle } = await start({ reserve: AGENT }, 2);
    await pushed(id);
    await handle.signal(deployedSignal, { agentId: 'someone-else', ok: true, serviceId: 'svc' });
    expect(await handle.result()).toEqual({
      deploymentId: id,
      agentId: AGENT,
      outcome: 'failed',
      error: 'Agent did not report the deployment within 2 s',
    });
    expect(names(id)).toContain('agentUndeploy');
    expect(names(id)).not.toContain('markDeploymentRunning');
  });

  it('deployed, then undeployed: running with the callback’s service, then stopped with the reason', async () => {
    const { id, handle } = await start({ reserve: AGENT });
    await pushed(id);
    await handle.signal(deployedSignal, { agentId: AGENT, ok: true, serviceId: 'svc-1', attestation: { a: 1 } });
    await running(id);
    expect(callOf(id, 'markDeploymentRunning')).toEqual({
      deploymentId: id,
      agentId: AGENT,
      serviceId: 'svc-1',
      attestation: { a: 1 },
    });
    expect(names(id)).toContain('registerService');
    const answer = await handle.executeUpdate(undeployUpdate, { args: [{ actor: 'admin', reason: 'done' }] });
    expect(answer).toEqual({ deploymentId: id, agentId: AGENT, status: 'stopped' });
    expect(await handle.result()).toEqual({ deploymentId: id, agentId: AGENT, outcome: 'stopped' });
    expect(callOf(id, 'markDeploymentStopped')).toMatchObject({ deploymentId: id, agentId: AGENT, reason: 'done' });
    const n = names(id);
    expect(n.indexOf('agentUndeploy')).toBeLessThan(n.indexOf('markDeploymentStopped'));
    expect(n.at(-1)).toBe('removeService');
  });

  it('an undeploy during the deploy (before the callback) stops the agent and ends stopped, never running', async () => {
    const { id, handle } = await start({ reserve: AGENT });
    await pushed(id);
    const answer = await handle.executeUpdate(undeployUpdate, { args: [{ actor: 'admin' }] });
    expect(answer).toEqual({ deploymentId: id, agentId: AGENT, status: 'stopped' });
    expect(await handle.result()).toEqual({ deploymentId: id, agentId: AGENT, outcome: 'stopped' });
    expect(names(id)).toContain('agentUndeploy');
    expect(callOf(id, 'markDeploymentStopped')).toMatchObject({ reason: null });
    expect(names(id)).not.toContain('markDeploymentRunning');
  });

  it('stopped elsewhere (unfunded) while running: ends without touching the agent again', async () => {
    const { id, handle } = await start({ reserve: AGENT });
    await pushed(id);
    await handle.signal(deployedSignal, { agentId: AGENT, ok: true });
    await running(id);
    await handle.signal(stoppedElsewhereSignal, { reason: 'insufficient funds' });
    expect(await handle.result()).toEqual({
      deploymentId: id,
      agentId: AGENT,
      outcome: 'stopped',
      error: 'insufficient funds',
    });
    expect(names(id)).not.toContain('agentUndeploy');
    expect(names(id)).not.toContain('markDeploymentStopped');
    expect(names(id).at(-1)).toBe('removeService');
  });

  it('agent lost while running: stops the workload, records the reason and tells the reporter', async () => {
    const { id, handle } = await start({ reserve: AGENT });
    // The reporter (a deleteAgent/resetAgent run in production): any running workflow that can take a signal.
    const reporterAgent = randomUUID();
    const reporter = await w.client.workflow.start<typeof agentEntity>('agentEntity', {
      taskQueue: w.taskQueue,
      workflowId: agentWorkflowId(reporterAgent),
      args: [{ agentId: reporterAgent }],
    });
    await pushed(id);
    await handle.signal(deployedSignal, { agentId: AGENT, ok: true });
    await running(id);
    await handle.signal(agentLostSignal, {
      reason: 'agent reset by admin',
      stopWorkload: true,
      replyTo: reporter.workflowId,
    });
    expect(await handle.result()).toEqual({
      deploymentId: id,
      agentId: AGENT,
      outcome: 'stopped',
      error: 'agent reset by admin',
    });
    expect(names(id)).toContain('agentUndeploy');
    expect(callOf(id, 'markDeploymentStopped')).toMatchObject({ reason: 'agent reset by admin' });
    const history = await reporter.fetchHistory();
    const signals = (history.events ?? [])
      .map((e) => e.workflowExecutionSignaledEventAttributes)
      .filter((a) => a !== null && a !== undefined);
    expect(signals.map((a) => a.signalName)).toContain('deploymentEnded');
    await reporter.signal(agentDeletedSignal);
    await reporter.result();
  });

  it('agent lost before the deployment ran: failed with the reason', async () => {
    const { id, handle } = await start({ reserve: AGENT });
    await pushed(id);
    await handle.signal(agentLostSignal, { reason: 'agent deleted', stopWorkload: false, replyTo: 'nobody' });
    expect(await handle.result()).toEqual({
      deploymentId: id,
      agentId: AGENT,
      outcome: 'failed',
      error: 'Agent went away before the deployment ran: agent deleted',
    });
    expect(callOf(id, 'failDeployment')).toMatchObject({
      error: 'Agent went away before the deployment ran: agent deleted',
    });
  });

  it('a catalog ingress update that fails does not stop the push (v1 behaviour)', async () => {
    const { id, handle } = await start({ reserve: AGENT, ingressFails: true });
    await pushed(id);
    const n = names(id);
    expect(n.indexOf('updateTunnelIngress')).toBeGreaterThan(-1);
    expect(n.indexOf('updateTunnelIngress')).toBeLessThan(n.indexOf('agentDeploy'));
    expect(await handle.executeUpdate(undeployUpdate, { args: [{ actor: 'admin' }] })).toMatchObject({
      status: 'stopped',
    });
    await handle.result();
  });
});
