/**
 * Agent → CP calls (api.md §2, auth `agent-control`, secret always required). Each is an Update on the agent's
 * entity workflow `agent:<id>`, which writes the agent row. A report about a deployment then goes to that
 * deployment's workflow only (`deployment:<id>` owns its row) — after the entity update has completed, so the
 * deployment is never `running` before its agent row says so.
 */
import type { Context } from 'koa';
import { HttpError, badRequest } from '../http/errors';
import type { ControlResult } from '../../workflows/contracts/agents';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { AgentIdParams, DeployedBody, HeartbeatBody, Ok, StatusBody } from './agent-schemas';
import { itaTokenOf } from '../../core/agents/registration-input';
import { z } from 'zod';

const errors = {
  401: { description: 'Missing or invalid agent bearer token' },
  404: { description: 'Agent not found' },
};

function answer(r: ControlResult): Record<string, unknown> {
  if (!r.ok) throw new HttpError(r.status, r.detail);
  return r.body;
}

const agentOf = (ctx: Context) => ctx.state.agent!;

/** Keeps workflow history small: a reported attestation over 64 KiB is replaced by a marker. */
const MAX_CALLBACK_ATTESTATION_BYTES = 64 * 1024;
function compactAttestation(a: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  if (!a) return null;
  const bytes = Buffer.byteLength(JSON.stringify(a));
  return bytes > MAX_CALLBACK_ATTESTATION_BYTES ? { truncated: true, bytes } : a;
}

export function agentControlRoutes(routes: Routes, deps: AppDeps): void {
  const gw = () => deps.workflows.agents;

  routes.add(
    {
      method: 'post',
      path: '/api/v1/agents/:agent_id/heartbeat',
      summary: 'Agent heartbeat with a fresh attestation; re-verified under the full trust policy',
      tag: 'agents',
      auth: 'agent',
      params: AgentIdParams,
      body: HeartbeatBody,
      responses: {
        200: { description: 'ok', schema: Ok },
        400: { description: 'vm_name mismatch or token missing' },
        403: { description: 'Attestation rejected' },
        ...errors,
      },
    },
    async ({ body }, ctx) => {
      const agent = agentOf(ctx);
      if (body.vm_name.trim() !== agent.vm_name) throw badRequest('vm_name does not match agent record');
      if (itaTokenOf(body.attestation) === '') throw badRequest('attestation.tdx.intel_ta_token is required');
      return answer(
        await gw().control(agent.agent_id, {
          kind: 'heartbeat',
          input: {
            vmName: agent.vm_name,
            attestation: body.attestation,
            status: body.status,
            deploymentId: body.deployment_id,
          },
        }),
      );
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/agents/:agent_id/status',
      summary: 'Agent status report during a deployment',
      tag: 'agents',
      auth: 'agent',
      params: AgentIdParams,
      body: StatusBody,
      responses: { 200: { description: 'ok', schema: Ok }, ...errors },
    },
    async ({ body }, ctx) => {
      const agent = agentOf(ctx);
      const result = answer(
        await gw().control(agent.agent_id, {
          kind: 'status',
          input: { status: body.status, deploymentId: body.deployment_id, error: body.error },
        }),
      );
      if (body.status === 'error' && body.error) {
        // The deployment workflow fails its own row (and ignores a report from an agent it is not placed on).
        await deps.workflows.deployments.signalDeployed(body.deployment_id, {
          agentId: agent.agent_id,
          ok: false,
          error: body.error,
        });
      }
      return result;
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/agents/:agent_id/deployed',
      summary: 'Agent reports a successful workload deployment',
      tag: 'agents',
      auth: 'agent',
      params: AgentIdParams,
      body: DeployedBody,
      responses: {
        200: { description: 'ok', schema: z.object({ status: z.literal('ok'), service_id: z.string() }) },
        ...errors,
      },
    },
    async ({ body }, ctx) => {
      const agent = agentOf(ctx);
      const result = answer(
        await gw().control(agent.agent_id, {
          kind: 'deployed',
          input: { deploymentId: body.deployment_id, serviceId: body.service_id, attestation: body.attestation },
        }),
      );
      await deps.workflows.deployments.signalDeployed(body.deployment_id, {
        agentId: agent.agent_id,
        ok: true,
        serviceId: body.service_id,
        attestation: compactAttestation(body.attestation),
      });
      return result;
    },
  );
}
