/**
 * Capacity launch-order worker (launcher.md §9, api.md §11), fixing v1's defects: the claim's bootstrap token and a
 * launcher-chosen vm_name go into the VM's config, so the agent registers under that name with that token; the
 * order is reported `fulfilled` only once that agent is on the CP, `failed` when the VM dies or never registers;
 * and the claim lease is honoured: when `claim_expires_at` passes before registration, the VM is stopped and
 * nothing more is reported (the CP has re-queued the order, another launcher may own it).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { normalizeDatacenter } from './config';
import { CpClient, CpHttpError, type OrderView } from './cp-client';
import { parseNodeSize } from './presets';
import { pidAlive } from './state';
import { launchVm, newVmName, readTail, removeVm, type LauncherContext } from './vm';

export interface WorkerOptions {
  cpUrl: string;
  launcherKey: string;
  image: string;
  intelApiKey?: string;
  providers: string[];
  datacenter: string;
  nodeSize: string;
  pollMs: number;
  registerTimeoutMs: number;
  oneShot: boolean;
  maxOrders: number;
  tdx: boolean;
  /** Sizing overrides applied to every VM (e.g. smaller memory on a test host). */
  memory?: string;
  vcpus?: string;
  attestation?: string;
  signal?: AbortSignal;
  log: (line: string) => void;
}

export interface OrderOutcome {
  order_id: string;
  status: 'fulfilled' | 'failed' | 'lease-expired';
  vm_name: string | null;
  agent_id?: string;
  error?: string;
}

export interface WorkerResult {
  outcomes: OrderOutcome[];
  /** 0 all good; 1 the one-shot order failed or a claim was malformed. */
  exitCode: 0 | 1;
}

const compact = (s: string, n: number) => s.replace(/\s+/g, ' ').trim().slice(0, n);

async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // aborted: the caller checks signal.aborted
  }
}

export async function runWorker(ctx: LauncherContext, o: WorkerOptions): Promise<WorkerResult> {
  const cp = new CpClient(o.cpUrl, o.launcherKey);
  const outcomes: OrderOutcome[] = [];
  const filter = { datacenter: o.datacenter.trim().toLowerCase(), node_size: o.nodeSize.trim().toLowerCase() };
  while (!o.signal?.aborted) {
    const claim = await cp.claimOrder(filter);
    if (!claim.claimed) {
      if (o.oneShot) return { outcomes, exitCode: 0 };
      await pause(o.pollMs, o.signal);
      continue;
    }
    const order = claim.order;
    if (!order?.order_id || !claim.bootstrap_token) {
      o.log('claim response without order_id or bootstrap_token; ignoring it');
      if (o.oneShot) return { outcomes, exitCode: 1 };
      await pause(o.pollMs, o.signal);
      continue;
    }
    o.log(`claimed order ${order.order_id} (${order.datacenter}, ${order.node_size})`);
    const outcome = await fulfil(ctx, cp, o, order, claim.bootstrap_token);
    outcomes.push(outcome);
    o.log(`order ${order.order_id}: ${outcome.status}${outcome.error ? ` (${outcome.error})` : ''}`);
    if (o.oneShot) return { outcomes, exitCode: outcome.status === 'fulfilled' ? 0 : 1 };
    if (o.maxOrders > 0 && outcomes.length >= o.maxOrders) return { outcomes, exitCode: 0 };
  }
  return { outcomes, exitCode: 0 };
}

async function fulfil(
  ctx: LauncherContext,
  cp: CpClient,
  o: WorkerOptions,
  order: OrderView,
  bootstrapToken: string,
): Promise<OrderOutcome> {
  let vmName: string | null = null;
  const fail = async (error: string): Promise<OrderOutcome> => {
    o.log(`order ${order.order_id} failed: ${error.slice(-12_000)}`);
    if (vmName) await removeVm(ctx, vmName, { timeoutMs: 5_000 }).catch(() => undefined);
    // The outcome stands even when the CP cannot take the report (down, or the order closed meanwhile): the lease
    // then re-queues the order, and this run still ends with a failed order instead of an unexplained error.
    await cp
      .updateOrder(order.order_id, { status: 'failed', vm_name: vmName, error: compact(error, 450) })
      .catch((err: Error) => o.log(`could not report order ${order.order_id} failed: ${err.message}`));
    return { order_id: order.order_id, status: 'failed', vm_name: vmName, error: compact(error, 450) };
  };
  try {
    const size = parseNodeSize(order.node_size || 'tiny');
    const dc = normalizeDatacenter(order.datacenter ?? '');
    if (!dc)
      return await fail(`invalid datacenter ${JSON.stringify(order.datacenter)}: expected <provider>:<location>`);
    const [provider, location] = dc.split(':') as [string, string];
    if (!o.providers.includes(provider)) return await fail(`provider ${provider} is not enabled on this launcher`);
    if (provider !== 'baremetal') return await fail(`provider ${provider} is not launched by host launchers`);
    vmName = newVmName('agent', size);
    const prov = await cp.updateOrder(order.order_id, { status: 'provisioning', vm_name: vmName });
    const leaseEnd = Date.parse(String(prov.claim_expires_at ?? order.claim_expires_at ?? '')) || Infinity;
    await launchVm(ctx, {
      image: o.image,
      name: vmName,
      size,
      memory: o.memory,
      vcpus: o.vcpus,
      cpUrl: o.cpUrl,
      datacenter: dc,
      cloudProvider: 'baremetal',
      availabilityZone: location,
      intelApiKey: o.intelApiKey,
      bootstrapToken,
      attestation: o.attestation,
      tdx: o.tdx,
    });
    o.log(`launched ${vmName}; waiting for its agent to register`);
    const deadline = Math.min(Date.now() + o.registerTimeoutMs, leaseEnd);
    for (;;) {
      const agent = await cp.agentByVmName(vmName).catch((err: Error) => {
        o.log(`agent lookup failed (will retry): ${err.message}`);
        return null;
      });
      if (agent) {
        await reportFulfilled(cp, o, order.order_id, vmName);
        return { order_id: order.order_id, status: 'fulfilled', vm_name: vmName, agent_id: agent.agent_id };
      }
      const rec = ctx.state.load(vmName);
      if (!rec || !pidAlive(rec.pid, vmName)) {
        const tail = rec ? readTail(rec.serial_log, 2000) : '';
        return await fail(`VM ${vmName} exited before its agent registered. Serial log tail: ${tail || '(empty)'}`);
      }
      if (Date.now() >= leaseEnd) {
        o.log(`claim on ${order.order_id} expired before registration; stopping ${vmName}, the CP re-queues it`);
        await removeVm(ctx, vmName, { timeoutMs: 5_000 });
        return { order_id: order.order_id, status: 'lease-expired', vm_name: vmName };
      }
      if (Date.now() >= deadline || o.signal?.aborted) {
        return await fail(
          o.signal?.aborted
            ? 'launcher stopped while waiting for registration'
            : `agent ${vmName} did not register within ${Math.round(o.registerTimeoutMs / 1000)} s`,
        );
      }
      await pause(Math.min(o.pollMs, Math.max(50, deadline - Date.now())), o.signal);
    }
  } catch (err) {
    return await fail((err as Error).message);
  }
}

/**
 * The agent registered with the order's token, which already fulfilled the order on the CP and closed it, so the
 * CP answers this report 409. Only this launcher can report on its claimed order and the agent is there, so a 409
 * here means "already fulfilled" (decided on the status, never on the message). Any other failure of the report
 * is logged, not fatal: the VM's agent is registered, and removing the VM over a lost report would undo that.
 */
async function reportFulfilled(cp: CpClient, o: WorkerOptions, orderId: string, vmName: string): Promise<void> {
  try {
    await cp.updateOrder(orderId, { status: 'fulfilled', vm_name: vmName });
  } catch (err) {
    if (err instanceof CpHttpError && err.status === 409) {
      o.log(`order ${orderId} was already fulfilled by its agent (the CP closed it at registration)`);
    } else {
      o.log(`could not report order ${orderId} fulfilled (its agent is registered): ${(err as Error).message}`);
    }
  }
}
