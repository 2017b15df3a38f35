/**
 * `registerAgent` with stub activities: each refusal and failure of workflows/register-agent.ts without ITA,
 * Cloudflare or a database — an untrusted but signed MRTD (recorded as unverified), an ITA outage (not recorded),
 * a replayed nonce, a refused plan, a foreign bootstrap token, a tunnel that cannot be made (new agent: its tunnel is
 * cleaned up; existing agent: kept), and the success paths with and without Cloudflare. Since issue #19 a
 * registration is one workflow task: `admitRegistration` (nonce + plan + order gate + Cloudflare configured) and the
 * tunnel run as local activities, and the order activity only runs when a bootstrap token is presented.
 */
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { registerAgent } from '../../../workflows/register-agent';
import {
  registerAgentWorkflowId,
  type RegisterAgentInput,
  type RegisterAgentResult,
} from '../../../workflows/contracts/agents';
import { TrustFailure } from '../../../workflows/contracts/failures';
import { startStubWorker, type StubWorker } from '../../helpers/stub-worker';

const SIGNED = { mrtd: 'ab'.repeat(48), rtmrs: null, tcbStatus: 'UpToDate', reportData: 'cd'.repeat(32) };
const SEALED = { sealed: 'k1.sealed-value' };

interface Script {
  verdict?: 'ok' | 'untrusted' | 'ita_error';
  nonce?: 'ok' | 'replayed';
  plan?: 'new' | 'existing' | 'refused';
  bootstrap?: 'ok' | 'foreign';
  cloudflare?: boolean;
  tunnel?: 'ok' | 'rejected' | 'flaky';
}

describe('registerAgent workflow (stub activities)', () => {
  let w: StubWorker;
  const scripts = new Map<string, Script>();
  const calls = new Map<string, { name: string; input: any }[]>();
  // Activities without a vmName in their input (tunnel by agent id) are recorded under the agent id's vm.
  const vmOfAgent = new Map<string, string>();
  const note = (vm: string, name: string, input: unknown) => {
    calls.set(vm, [...(calls.get(vm) ?? []), { name, input }]);
  };
  const byVm =
    (name: string, answer: (s: Script, input: any) => unknown) =>
    async (input: any): Promise<unknown> => {
      const vm: string = input.vmName ?? vmOfAgent.get(input.agentId);
      note(vm, name, input);
      return answer(scripts.get(vm)!, input);
    };

  beforeAll(async () => {
    w = await startStubWorker({
      verifyAgentAttestation: async (input: any) => {
        // verifyAgentAttestation has no vmName: the token names the test's vm.
        const vm = String(input.token);
        note(vm, 'verifyAgentAttestation', input);
        const s = scripts.get(vm)!;
        if (s.verdict === 'untrusted') {
          return {
            ok: false,
            code: TrustFailure.MrtdUntrusted,
            status: 403,
            detail: 'MRTD not trusted',
            untrusted: true,
            signed: SIGNED,
          };
        }
        if (s.verdict === 'ita_error') {
          return {
            ok: false,
            code: TrustFailure.ItaError,
            status: 502,
            detail: 'Intel TA verification unavailable',
            untrusted: false,
            signed: null,
          };
        }
        return { ok: true, mrtdType: 'agent', warnings: [], ...SIGNED };
      },
      recordUnverifiedAgent: byVm('recordUnverifiedAgent', () => ({ recorded: true, agentId: 'x' })),
      checkRegistrationNonce: byVm('checkRegistrationNonce', (s) =>
        s.nonce === 'replayed' ? { ok: false, status: 401, detail: 'nonce already used' } : { ok: true },
      ),
      planAgentRegistration: byVm('planAgentRegistration', (s, input) => {
        if (s.plan === 'refused') return { ok: false, status: 409, detail: 'MRTD drift for this vm_name' };
        const agentId = s.plan === 'existing' ? `existing-${input.vmName}` : input.candidateAgentId;
        vmOfAgent.set(agentId, input.vmName);
        return { ok: true, agentId, fastPath: s.plan === 'existing', existed: s.plan === 'existing', hostname: null };
      }),
      // The real one composes the nonce check and the plan (activities/registration.ts); so does this stub.
      admitRegistration: byVm('admitRegistration', (s, input) => {
        if (s.nonce === 'replayed') return { ok: false, status: 401, detail: 'nonce already used' };
        if (s.plan === 'refused') return { ok: false, status: 409, detail: 'MRTD drift for this vm_name' };
        const agentId = s.plan === 'existing' ? `existing-${input.vmName}` : input.candidateAgentId;
        vmOfAgent.set(agentId, input.vmName);
        const existed = s.plan === 'existing';
        return {
          ok: true,
          agentId,
          fastPath: existed,
          existed,
          hostname: null,
          orderBound: Boolean(input.bootstrapTokenHash),
          tunnel: s.cloudflare === true,
        };
      }),
      consumeBootstrapToken: byVm('consumeBootstrapToken', (s) =>
        s.bootstrap === 'foreign'
          ? { ok: false, status: 403, detail: 'bootstrap token is not a live order’s' }
          : { ok: true },
      ),
      // Asked without a vm: the tests run one at a time, so the latest script is the running registration's.
      cloudflareConfigured: async () => {
        const s = [...scripts.values()].at(-1)!;
        return { configured: s.cloudflare === true };
      },
      provisionAgentTunnel: byVm('provisionAgentTunnel', (s, input) => {
        if (s.tunnel === 'rejected') throw ApplicationFailure.nonRetryable('zone not found', 'CloudflareRejected');
        // Transient: every local attempt (3) fails; the regular activity's first attempt succeeds.
        const attempts = (calls.get(input.vmName ?? vmOfAgent.get(input.agentId)) ?? []).filter(
          (c) => c.name === 'provisionAgentTunnel',
        ).length;
        if (s.tunnel === 'flaky' && attempts <= 3) throw new Error('Cloudflare answered 503');
        return { tunnelId: 't1', hostname: `agent-${input.agentId}.example.test`, tunnelToken: SEALED };
      }),
      deleteAgentTunnel: byVm('deleteAgentTunnel', () => ({ deleted: true })),
      persistAgentRegistration: byVm('persistAgentRegistration', () => ({ secret: SEALED })),
    });
  });
  afterAll(async () => {
    await w?.close();
  });

  const names = (vm: string) => (calls.get(vm) ?? []).map((c) => c.name);
  const callOf = (vm: string, name: string) => calls.get(vm)?.find((c) => c.name === name)?.input;

  async function register(script: Script): Promise<{ vm: string; result: RegisterAgentResult }> {
    const vm = `vm-${randomUUID()}`;
    scripts.set(vm, script);
    const input: RegisterAgentInput = {
      vmName: vm,
      nodeSize: 'tiny',
      datacenter: 'gcp:us-central1-a',
      version: '1',
      attestation: { tdx: { intel_ta_token: vm } },
      bootstrapTokenHash: script.bootstrap ? `hmac-of-${vm}` : null,
    };
    const result = await w.client.workflow.execute<typeof registerAgent>('registerAgent', {
      taskQueue: w.taskQueue,
      workflowId: registerAgentWorkflowId(vm, 'attempt'),
      args: [input],
    });
    return { vm, result };
  }

  /** Event kinds of the registration's history, in order. */
  async function eventKinds(vm: string): Promise<string[]> {
    const history = await w.client.workflow.getHandle(registerAgentWorkflowId(vm, 'attempt')).fetchHistory();
    return (history.events ?? []).map(
      (e) => Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]) ?? '',
    );
  }

  it('an untrusted but signed MRTD is refused with the verdict’s status and recorded as an unverified agent', async () => {
    const { vm, result } = await register({ verdict: 'untrusted' });
    expect(result).toEqual({ ok: false, status: 403, detail: 'MRTD not trusted' });
    expect(names(vm)).toEqual(['verifyAgentAttestation', 'recordUnverifiedAgent']);
    expect(callOf(vm, 'recordUnverifiedAgent')).toMatchObject({
      vmName: vm,
      signed: SIGNED,
      detail: 'MRTD not trusted',
    });
  });

  it('an ITA failure (nothing signed) is refused with its status and records nothing', async () => {
    const { vm, result } = await register({ verdict: 'ita_error' });
    expect(result).toEqual({ ok: false, status: 502, detail: 'Intel TA verification unavailable' });
    expect(names(vm)).toEqual(['verifyAgentAttestation']);
  });

  it('a replayed nonce ends the registration before any plan', async () => {
    const { vm, result } = await register({ nonce: 'replayed' });
    expect(result).toEqual({ ok: false, status: 401, detail: 'nonce already used' });
    expect(callOf(vm, 'admitRegistration')).toMatchObject({
      vmName: vm,
      reportData: SIGNED.reportData,
      consumer: registerAgentWorkflowId(vm, 'attempt'),
    });
    expect(names(vm)).toEqual(['verifyAgentAttestation', 'admitRegistration']);
  });

  it('a refused plan (MRTD drift) is answered as is; nothing is persisted', async () => {
    const { vm, result } = await register({ plan: 'refused' });
    expect(result).toEqual({ ok: false, status: 409, detail: 'MRTD drift for this vm_name' });
    expect(names(vm)).not.toContain('persistAgentRegistration');
  });

  it('a bootstrap token that is no live order’s is refused before anything of the agent is written', async () => {
    const { vm, result } = await register({ bootstrap: 'foreign', cloudflare: true });
    expect(result).toEqual({ ok: false, status: 403, detail: 'bootstrap token is not a live order’s' });
    expect(callOf(vm, 'consumeBootstrapToken')).toMatchObject({ tokenHash: `hmac-of-${vm}`, vmName: vm });
    expect(names(vm)).not.toContain('provisionAgentTunnel');
    expect(names(vm)).not.toContain('persistAgentRegistration');
  });

  it('a tunnel Cloudflare refuses: 502 with the typed failure’s message; a new agent’s tunnel is cleaned up', async () => {
    const { vm, result } = await register({ cloudflare: true, tunnel: 'rejected' });
    expect(result).toEqual({ ok: false, status: 502, detail: 'Failed to create tunnel: zone not found' });
    const agentId = callOf(vm, 'provisionAgentTunnel').agentId;
    expect(callOf(vm, 'deleteAgentTunnel')).toEqual({ agentId });
    expect(names(vm)).not.toContain('persistAgentRegistration');
  });

  it('a tunnel step failing transiently on every local attempt is handed to the regular activity and succeeds', async () => {
    const { vm, result } = await register({ cloudflare: true, tunnel: 'flaky' });
    expect(result).toMatchObject({ ok: true, tunnelToken: SEALED });
    expect(names(vm).filter((n) => n === 'provisionAgentTunnel')).toHaveLength(4);
    expect(names(vm)).not.toContain('deleteAgentTunnel');
    const kinds = await eventKinds(vm);
    expect(kinds.filter((k) => k === 'activityTaskScheduledEventAttributes')).toHaveLength(1);
  });

  it('a tunnel failure for an existing agent keeps its tunnel', async () => {
    const { vm, result } = await register({ plan: 'existing', cloudflare: true, tunnel: 'rejected' });
    expect(result).toMatchObject({ ok: false, status: 502 });
    expect(callOf(vm, 'provisionAgentTunnel')).toMatchObject({ fresh: false }); // an existing tunnel is looked up
    expect(names(vm)).not.toContain('deleteAgentTunnel');
  });

  it('success with Cloudflare: the tunnel’s hostname and token, the persisted secret', async () => {
    const { vm, result } = await register({ cloudflare: true });
    const agentId = callOf(vm, 'admitRegistration').candidateAgentId;
    expect(result).toEqual({
      ok: true,
      agentId,
      hostname: `agent-${agentId}.example.test`,
      tunnelToken: SEALED,
      secret: SEALED,
      pollInterval: 30,
      reRegistered: false,
    });
    expect(callOf(vm, 'persistAgentRegistration')).toMatchObject({
      agentId,
      fastPath: false,
      tunnel: { tunnelId: 't1' },
    });
    // A brand-new agent's tunnel is created before any look-up; no token presented, so no order activity.
    expect(callOf(vm, 'provisionAgentTunnel')).toEqual({ agentId, fresh: true });
    expect(names(vm)).toEqual([
      'verifyAgentAttestation',
      'admitRegistration',
      'provisionAgentTunnel',
      'persistAgentRegistration',
    ]);
    // One workflow task and no activity task: every step is a local activity, recorded as a marker.
    const kinds = await eventKinds(vm);
    expect(kinds.filter((k) => k === 'workflowTaskCompletedEventAttributes')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'activityTaskScheduledEventAttributes')).toHaveLength(0);
    expect(kinds.filter((k) => k === 'markerRecordedEventAttributes')).toHaveLength(5); // patch + 4 steps
  });

  it('a presented bootstrap token is consumed through the order activity before the tunnel', async () => {
    const { vm, result } = await register({ bootstrap: 'ok', cloudflare: true });
    expect(result).toMatchObject({ ok: true });
    expect(names(vm)).toEqual([
      'verifyAgentAttestation',
      'admitRegistration',
      'consumeBootstrapToken',
      'provisionAgentTunnel',
      'persistAgentRegistration',
    ]);
    expect(callOf(vm, 'consumeBootstrapToken')).toMatchObject({
      tokenHash: `hmac-of-${vm}`,
      agentId: callOf(vm, 'admitRegistration').candidateAgentId,
      consumer: registerAgentWorkflowId(vm, 'attempt'),
    });
    const kinds = await eventKinds(vm);
    expect(kinds.filter((k) => k === 'activityTaskScheduledEventAttributes')).toHaveLength(1);
  });

  it('success without Cloudflare: no tunnel; an existing agent re-registers on the fast path', async () => {
    const { vm, result } = await register({ plan: 'existing' });
    expect(result).toMatchObject({ ok: true, agentId: `existing-${vm}`, hostname: null, tunnelToken: null });
    expect(result.ok && result.reRegistered).toBe(true);
    expect(names(vm)).not.toContain('provisionAgentTunnel');
    expect(names(vm)).not.toContain('consumeBootstrapToken');
    expect(callOf(vm, 'persistAgentRegistration')).toMatchObject({ tunnel: null, fastPath: true });
  });
});
