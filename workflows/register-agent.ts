import {
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  patched,
  proxyLocalActivities,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { CapacityActivities } from '../activities/capacity';
import type { CloudflareActivities } from '../activities/cloudflare';
import type { TrustVerdict } from '../activities/attestation';
import type { ProvisionedTunnel, RegistrationActivities, RegistrationPlan } from '../activities/registration';
import type { RegisterAgentInput, RegisterAgentResult } from './contracts/agents';

// Short DB/JWKS steps run as local activities: no server round trip per step (registration latency under load),
// still recorded as markers in the history. Each is idempotent, so a re-run after a worker crash is harmless.
const reg = proxyLocalActivities<RegistrationActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '200 ms' },
});
const cf = proxyLocalActivities<Pick<CloudflareActivities, 'cloudflareConfigured' | 'deleteAgentTunnel'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '500 ms' },
});
// Cloudflare 5xx/network errors are retried here; a rejection (4xx) is non-retryable and ends the registration (502).
// The activity heartbeats from each Cloudflare call it makes (activities/cloudflare-client.ts), and a call is cut at the
// heartbeat timeout: a tunnel step lost with its worker, or hung on one call, is retried after 10 s.
const tunnel = proxyActivities<Pick<RegistrationActivities, 'provisionAgentTunnel'>>({
  startToCloseTimeout: '90 seconds',
  heartbeatTimeout: '10 seconds',
  retry: { maximumAttempts: 8, initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

// Issue #19: the tunnel step first runs as a local activity, so a registration is one workflow task and no activity
// task. It is idempotent (tunnel and CNAME found by deterministic name): a worker lost mid-step costs a re-run of the
// whole workflow task elsewhere (its markers are written only when the task completes), never a duplicate tunnel.
// A few quick local attempts only: a Cloudflare outage, or a worker shutting down (which resolves a local activity
// with its last failure), hands the step to the regular, heartbeating activity above, retried by the server.
const tunnelLocal = proxyLocalActivities<Pick<RegistrationActivities, 'provisionAgentTunnel'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3, initialInterval: '300 ms', backoffCoefficient: 2 },
});

// A regular activity: it asks the order's `launch-order:<id>` workflow (an Update through the worker's client).
const orders = proxyActivities<Pick<CapacityActivities, 'consumeBootstrapToken'>>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '500 ms' },
});

/**
 * Cloudflare refused (a non-retryable failure): retrying elsewhere would be refused again. A local activity's
 * non-retryable failure reaches the workflow as the ApplicationFailure itself, a regular one's inside ActivityFailure.
 */
const isRejection = (e: unknown): boolean => {
  const failure = e instanceof ActivityFailure ? e.cause : e;
  return failure instanceof ApplicationFailure && failure.nonRetryable === true;
};

const causeOf = (e: unknown): string =>
  e instanceof ActivityFailure && e.cause instanceof ApplicationFailure
    ? e.cause.message
    : String((e as Error).message);

/**
 * One registration attempt (spec/attestation.md §5): verify → untrusted record or policy rejection → nonce → plan
 * (fast path / 409 drift) → tunnel + CNAME → persist agent + rotate control secret. Rejections are results, so a
 * repeated identical request (same workflow id) gets the same answer. Secrets leave this history sealed.
 */
export async function registerAgent(input: RegisterAgentInput): Promise<RegisterAgentResult> {
  // Issue #19: admit (nonce + plan + order gate + Cloudflare configured) in one local activity, the order activity
  // only when a bootstrap token is presented, the tunnel as a local activity. Histories recorded before keep the
  // earlier sequence (registerAgentSteps).
  if (!patched('registration-one-task')) return registerAgentSteps(input);
  const verdict = await verify(input);
  if (!verdict.ok) return rejectEvidence(input, verdict);

  const plan = await reg.admitRegistration({
    vmName: input.vmName,
    reportData: verdict.reportData,
    consumer: workflowInfo().workflowId,
    mrtd: verdict.mrtd,
    nodeSize: input.nodeSize,
    datacenter: input.datacenter,
    candidateAgentId: uuid4(),
    bootstrapTokenHash: input.bootstrapTokenHash ?? null,
  });
  if (!plan.ok) return plan;

  // A presented bootstrap token must be a live order's and is consumed here, fulfilling the order, before anything
  // of the agent is written (a VM launched for an order that brings none was refused by admitRegistration).
  if (plan.orderBound) {
    const bound = await consumeOrderToken(input, plan.agentId);
    if (!bound.ok) return bound;
  }

  let provisioned: ProvisionedTunnel | null = null;
  if (plan.tunnel) {
    // `fresh`: the agent id was minted by this registration, so create before looking up (fewer Cloudflare calls).
    const args = { agentId: plan.agentId, fresh: !plan.existed };
    try {
      provisioned = await tunnelLocal.provisionAgentTunnel(args).catch((err: unknown) => {
        if (isRejection(err)) throw err;
        return tunnel.provisionAgentTunnel(args);
      });
    } catch (err) {
      return tunnelFailed(plan, err);
    }
  }
  return persist(input, plan, verdict, provisioned);
}

type Verified = Extract<TrustVerdict, { ok: true }>;

/** The order's `consumeBootstrapToken` for this registration (fulfils the order before anything is written). */
function consumeOrderToken(input: RegisterAgentInput, agentId: string) {
  return orders.consumeBootstrapToken({
    tokenHash: input.bootstrapTokenHash ?? null,
    vmName: input.vmName,
    agentId,
    consumer: workflowInfo().workflowId,
  });
}

/** A failed tunnel step: a brand-new agent leaves nothing behind; an existing agent keeps its row and tunnel. */
async function tunnelFailed(plan: { agentId: string; existed: boolean }, err: unknown): Promise<RegisterAgentResult> {
  if (!plan.existed) await cf.deleteAgentTunnel({ agentId: plan.agentId }).catch(() => undefined);
  return { ok: false, status: 502, detail: `Failed to create tunnel: ${causeOf(err)}` };
}

function verify(input: RegisterAgentInput): Promise<TrustVerdict> {
  const token = String((input.attestation.tdx as { intel_ta_token?: unknown } | undefined)?.intel_ta_token ?? '');
  return reg.verifyAgentAttestation({
    token,
    nodeSize: input.nodeSize,
    attestation: input.attestation,
    encryptionPublicKey: input.encryptionPublicKey ?? null,
  });
}

async function rejectEvidence(
  input: RegisterAgentInput,
  verdict: Extract<TrustVerdict, { ok: false }>,
): Promise<RegisterAgentResult> {
  if (verdict.untrusted && verdict.signed) {
    await reg.recordUnverifiedAgent({
      ...input,
      candidateAgentId: uuid4(),
      signed: verdict.signed,
      detail: verdict.detail,
    });
  }
  return { ok: false, status: verdict.status, detail: verdict.detail };
}

async function persist(
  input: RegisterAgentInput,
  plan: Pick<RegistrationPlan, 'agentId' | 'fastPath' | 'hostname'>,
  verdict: Verified,
  provisioned: ProvisionedTunnel | null,
): Promise<RegisterAgentResult> {
  const { secret } = await reg.persistAgentRegistration({
    ...input,
    agentId: plan.agentId,
    fastPath: plan.fastPath,
    signed: verdict,
    tunnel: provisioned,
  });
  return {
    ok: true,
    agentId: plan.agentId,
    hostname: provisioned?.hostname ?? plan.hostname,
    tunnelToken: provisioned?.tunnelToken ?? null,
    secret,
    pollInterval: 30,
    reRegistered: plan.fastPath,
  };
}

/** The sequence before `registration-one-task`, unchanged, for histories recorded with it. */
async function registerAgentSteps(input: RegisterAgentInput): Promise<RegisterAgentResult> {
  const verdict = await verify(input);
  if (!verdict.ok) return rejectEvidence(input, verdict);

  const nonce = await reg.checkRegistrationNonce({
    vmName: input.vmName,
    reportData: verdict.reportData,
    consumer: workflowInfo().workflowId,
  });
  if (!nonce.ok) return nonce;

  const plan = await reg.planAgentRegistration({
    vmName: input.vmName,
    mrtd: verdict.mrtd,
    nodeSize: input.nodeSize,
    datacenter: input.datacenter,
    candidateAgentId: uuid4(),
  });
  if (!plan.ok) return plan;

  // Order-bound registrations (capacity issue): a presented bootstrap token must be a live order's and is consumed
  // here, fulfilling the order, before anything of the agent is written; a VM launched for an order must bring it.
  if (patched('launch-order-bootstrap-token')) {
    const bound = await consumeOrderToken(input, plan.agentId);
    if (!bound.ok) return bound;
  }

  let provisioned: ProvisionedTunnel | null = null;
  if ((await cf.cloudflareConfigured({})).configured) {
    try {
      provisioned = await tunnel.provisionAgentTunnel({ agentId: plan.agentId });
    } catch (err) {
      return tunnelFailed(plan, err);
    }
  }

  return persist(input, plan, verdict, provisioned);
}
