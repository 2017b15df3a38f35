import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  proxyActivities,
  setHandler,
  uuid4,
} from '@temporalio/workflow';
import { Mutex } from 'async-mutex';
import type { CapacityActivities } from '../activities/capacity';
import type { GcpActivities } from '../activities/gcp';
import type { ProvisionerActivities } from '../activities/provisioner';
import { instanceName, type OrderView } from '../core/capacity';
import {
  claimOrderUpdate,
  consumeTokenUpdate,
  reportOrderUpdate,
  type LaunchOrderInput,
  type LaunchOrderResult,
} from './contracts/capacity';
import { CapacityFailure } from './contracts/failures';

const db = proxyActivities<CapacityActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '200 ms', nonRetryableErrorTypes: [CapacityFailure.OrderUnavailable] },
});
// An insert waits on its zone operation (≤ 2 min per machine type); heartbeats let a lost worker's attempt be retried
// soon, and the retry re-sends the same requestId, so Compute answers with the same operation instead of a second VM.
const gcp = proxyActivities<GcpActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 20, initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

// One call per attempt bounded by provisioner.timeout_seconds; transient failures (network, 5xx, 429) are retried
// with the same Idempotency-Key, a 4xx refusal (ProvisionerRejected) fails the order.
const provisioner = proxyActivities<ProvisionerActivities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    maximumAttempts: 8,
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: [CapacityFailure.ProvisionerRejected],
  },
});

/** The built-in fulfiller's claimant id (v1's literal). */
const CP_INTERNAL_LAUNCHER = 'cp-internal-launcher';
/** Claimant id of orders handed to the external provisioner webhook. */
const EXTERNAL_PROVISIONER = 'external-provisioner';
/** A GCP order whose VMs never register is failed after this many claims instead of looping forever. */
const MAX_GCP_CLAIMS = 3;

const iso = (ms: number) => new Date(ms).toISOString();
const refuse = (message: string) => ApplicationFailure.create({ message, type: CapacityFailure.OrderUnavailable });

/**
 * `launch-order:<order_id>`, the order's only writer (background.md §6 with the bootstrap token enforced):
 * open → claimed (a launcher's `claim` Update, or the built-in GCP fulfiller) with a lease → provisioning → fulfilled
 * when the provisioned agent registers with the claim's token (`consumeToken` Update) or the launcher reports it,
 * or failed. A lapsed lease re-queues the order (token and VM name cleared; a GCP VM of the lapsed claim deleted).
 * Handlers serialize through one mutex so a claim, a report and a lease expiry never interleave their writes.
 */
export async function launchOrder(input: LaunchOrderInput): Promise<LaunchOrderResult> {
  const { orderId } = input;
  const { leaseSeconds, graceSeconds } = await db.launchOrderTimings();
  const lock = new Mutex();
  const s = {
    status: 'open' as string,
    claimedBy: null as string | null,
    tokenHash: null as string | null,
    leaseUntil: 0,
    vmName: null as string | null,
    claims: 0,
    agentId: null as string | null,
  };
  let view: OrderView | null = null;

  setHandler(
    claimOrderUpdate,
    (c) =>
      lock.runExclusive(async () => {
        if (s.status !== 'open') throw refuse(`Launch order ${orderId} is ${s.status}`);
        const at = Date.now();
        view = await db.orderClaim({
          orderId,
          claimedBy: c.claimedBy,
          tokenHash: c.tokenHash,
          at: iso(at),
          expiresAt: iso(at + leaseSeconds * 1000),
        });
        Object.assign(s, { status: 'claimed', claimedBy: c.claimedBy, tokenHash: c.tokenHash, vmName: null });
        s.leaseUntil = at + leaseSeconds * 1000;
        s.claims++;
        return view;
      }),
    {
      validator: (c) => {
        if (input.fulfiller !== 'launcher')
          throw new Error(`Launch order ${orderId} is fulfilled by ${input.fulfiller}`);
        if (s.status !== 'open') throw new Error(`Launch order ${orderId} is ${s.status}`);
        if (!c.claimedBy || !/^[0-9a-f]{64}$/.test(c.tokenHash))
          throw new Error('claim needs a launcher and a token hash');
      },
    },
  );

  setHandler(
    reportOrderUpdate,
    (r) =>
      lock.runExclusive(async () => {
        if (s.status === 'failed' || (s.status === 'fulfilled' && s.agentId)) {
          throw refuse(`Launch order ${orderId} is ${s.status}`);
        }
        const at = Date.now();
        // background.md §6.4: `provisioning` gets a 15 min lease when none is running.
        const extend = r.status === 'provisioning' && s.leaseUntil === 0;
        view = await db.orderReport({
          orderId,
          status: r.status,
          claimedBy: r.launcherId,
          vmName: r.vmName,
          error: r.error,
          at: iso(at),
          ...(extend ? { claimExpiresAt: iso(at + 15 * 60_000) } : {}),
        });
        s.status = r.status;
        s.claimedBy = r.launcherId;
        if (r.vmName !== undefined) s.vmName = r.vmName?.trim() || null;
        if (extend) s.leaseUntil = at + 15 * 60_000;
        if (r.status === 'fulfilled' || r.status === 'failed') s.leaseUntil = 0;
        return view;
      }),
    {
      validator: (r) => {
        // Typed, so the API maps it to 404 without reading the message.
        if ((s.claimedBy && s.claimedBy !== r.launcherId) || input.fulfiller !== 'launcher') {
          throw ApplicationFailure.create({
            message: 'Capacity launch order not found',
            type: CapacityFailure.OrderNotFound,
            nonRetryable: true,
          });
        }
      },
    },
  );

  setHandler(
    consumeTokenUpdate,
    (c) =>
      lock.runExclusive(async () => {
        if (s.tokenHash !== c.tokenHash || s.agentId) throw refuse('bootstrap token already used or re-issued');
        const ok = await db.orderConsumeToken({ orderId, ...c, at: iso(Date.now()) });
        if (!ok) throw refuse('bootstrap token already used');
        Object.assign(s, { status: 'fulfilled', agentId: c.agentId, vmName: c.vmName, leaseUntil: 0 });
        return { orderId };
      }),
    {
      validator: (c) => {
        if (s.tokenHash === null || c.tokenHash !== s.tokenHash)
          throw new Error('bootstrap token does not match the order');
        if (s.agentId) throw new Error('bootstrap token already used');
        if (s.status !== 'claimed' && s.status !== 'provisioning' && s.status !== 'fulfilled') {
          throw new Error(`launch order is ${s.status}`);
        }
        if (s.leaseUntil > 0 && Date.now() > s.leaseUntil) throw new Error('the claim lease has lapsed');
        if (s.vmName && s.vmName.toLowerCase() !== c.vmName.toLowerCase()) {
          throw new Error(`bootstrap token was issued for VM ${s.vmName}`);
        }
      },
    },
  );

  const fail = async (error: string) => {
    await db.orderReport({
      orderId,
      status: 'failed',
      claimedBy: s.claimedBy ?? CP_INTERNAL_LAUNCHER,
      error,
      at: iso(Date.now()),
    });
    s.status = 'failed';
    s.leaseUntil = 0;
  };

  /**
   * A built-in claim (GCP insert, or the external provisioner's webhook): token (sealed for the VM), claim row,
   * instance name, then the launch. A permanent refusal of the launch fails the order.
   */
  const fulfilBuiltIn = async () => {
    const via = input.fulfiller === 'gcp' ? 'GCP' : 'provisioner';
    if (s.claims >= MAX_GCP_CLAIMS) return fail(`no agent registered after ${s.claims} ${via} launches`);
    const claimant = input.fulfiller === 'gcp' ? CP_INTERNAL_LAUNCHER : EXTERNAL_PROVISIONER;
    const minted = await db.mintSealedBootstrapToken();
    const at = Date.now();
    await db.orderClaim({
      orderId,
      claimedBy: claimant,
      tokenHash: minted.tokenHash,
      at: iso(at),
      expiresAt: iso(at + leaseSeconds * 1000),
    });
    s.claims++;
    Object.assign(s, { status: 'claimed', claimedBy: claimant, tokenHash: minted.tokenHash });
    s.leaseUntil = at + leaseSeconds * 1000;
    // Chosen once per claim and recorded before the insert, so a retried insert names the same VM.
    const name = instanceName(orderId, input.nodeSize, uuid4().replace(/-/g, ''));
    await db.orderReport({ orderId, status: 'provisioning', claimedBy: claimant, vmName: name, at: iso(Date.now()) });
    Object.assign(s, { status: 'provisioning', vmName: name });
    try {
      if (input.fulfiller === 'gcp') {
        await gcp.insertGcpInstance({
          orderId,
          claimNo: s.claims,
          name,
          datacenter: input.datacenter,
          nodeSize: input.nodeSize,
          token: minted.token,
        });
      } else {
        await provisioner.dispatchProvisionerOrder({
          orderId,
          claimNo: s.claims,
          datacenter: input.datacenter,
          nodeSize: input.nodeSize,
          vmName: name,
          reason: 'capacity-launch-order',
          token: minted.token,
        });
      }
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      if (
        cause instanceof ApplicationFailure &&
        (cause.type === CapacityFailure.GcpInsertFailed || cause.type === CapacityFailure.ProvisionerRejected)
      ) {
        return fail(cause.message.slice(0, 450));
      }
      throw err;
    }
  };

  /** Lease lapsed without a registration: the claim's VM (built-in path) is deleted and the order re-opens. */
  const requeue = async () => {
    if (input.fulfiller === 'gcp' && s.vmName) {
      await gcp.deleteGcpInstance({
        datacenter: input.datacenter,
        name: s.vmName,
        requestKey: `${orderId}:${s.claims}`,
      });
    }
    await db.orderRequeue({ orderId, at: iso(Date.now()) });
    Object.assign(s, { status: 'open', claimedBy: null, tokenHash: null, vmName: null, leaseUntil: 0 });
  };

  for (;;) {
    if (s.status === 'failed') break;
    if (s.status === 'fulfilled') {
      if (s.agentId) break;
      // Reported fulfilled by its launcher: the token stays good for the grace window, then the order rests as v1's
      // "fulfilled but unregistered" (counted as pending capacity by reconciles until it ages out).
      const more = await condition(() => s.agentId !== null || s.status !== 'fulfilled', graceSeconds * 1000);
      if (!more) break;
      continue;
    }
    if (s.status === 'open') {
      if (input.fulfiller !== 'launcher') await lock.runExclusive(fulfilBuiltIn);
      else await condition(() => s.status !== 'open');
      continue;
    }
    // claimed / provisioning: wait for a change or the lease.
    const lease = s.leaseUntil;
    const before = s.status;
    const changed = await condition(
      () => s.status !== before || s.leaseUntil !== lease,
      Math.max(1, lease - Date.now()),
    );
    if (!changed && s.leaseUntil > 0 && Date.now() >= s.leaseUntil) {
      await lock.runExclusive(async () => {
        if (s.leaseUntil > 0 && Date.now() >= s.leaseUntil && (s.status === 'claimed' || s.status === 'provisioning')) {
          await requeue();
        }
      });
    }
  }
  await condition(allHandlersFinished);
  return { orderId, status: s.status, agentId: s.agentId, claims: s.claims };
}
