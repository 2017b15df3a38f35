/**
 * Contracts of the capacity processes: one `launch-order:<order_id>` workflow per order (claim lease, provisioning,
 * fulfilment by the registering agent's bootstrap token), the `capacity-reconcile` schedule's pass, the admin
 * reconcile and the account's capacity purchase. Bootstrap tokens cross history only as their HMAC or sealed.
 */
import { defineUpdate } from '@temporalio/workflow';
import type { OrderView, TargetView } from '../../core/capacity';

/** Who fulfils an order: launchers claim it, the built-in GCP path, or the external provisioner webhook. */
export type Fulfiller = 'launcher' | 'gcp' | 'provisioner';

export interface LaunchOrderInput {
  orderId: string;
  datacenter: string;
  nodeSize: string;
  fulfiller: Fulfiller;
}

export interface LaunchOrderResult {
  orderId: string;
  status: string;
  agentId: string | null;
  claims: number;
}

export const launchOrderWorkflowId = (orderId: string) => `launch-order:${orderId}`;

export interface ClaimInput {
  claimedBy: string;
  /** HMAC of the token the API minted and returns once to the launcher (core/auth/bootstrap-token.ts). */
  tokenHash: string;
}
export interface ReportInput {
  launcherId: string;
  status: 'claimed' | 'provisioning' | 'fulfilled' | 'failed';
  /** undefined: unchanged; null or '': cleared. */
  vmName?: string | null;
  error?: string | null;
}
export interface ConsumeTokenInput {
  tokenHash: string;
  vmName: string;
  agentId: string;
  /** Registration workflow id: a retried consume by the same registration passes again. */
  consumer: string;
}

// Updates, not signals: the launcher's claim needs the order back, and a registration must know whether its token
// was accepted before it creates anything. Validators reject before anything enters history.
export const claimOrderUpdate = defineUpdate<OrderView, [ClaimInput]>('claim');
export const reportOrderUpdate = defineUpdate<OrderView, [ReportInput]>('report');
export const consumeTokenUpdate = defineUpdate<{ orderId: string }, [ConsumeTokenInput]>('consumeToken');

export interface NewOrderRef {
  orderId: string;
  datacenter: string;
  nodeSize: string;
  fulfiller: Fulfiller;
}

export interface CapacityReconcileResult {
  targets: number;
  created: number;
  expired: number;
  shortfall: number;
  dispatched: number;
  orders: string[];
}

/** api.md §10 admin reconcile body, normalized by the API. */
export interface DispatchInput {
  targets: { datacenter: string; nodeSize: string; minCount: number }[];
  requireVerified: boolean;
  requireHealthy: boolean;
  requireHostname: boolean;
  allowedStatuses: string[];
  dispatch: boolean;
  reason: string;
  accountId: string | null;
}

export interface DispatchResponse {
  eligible: boolean;
  total_shortfall: number;
  targets: {
    datacenter: string;
    node_size: string;
    min_count: number;
    eligible_count: number;
    shortfall: number;
    eligible_agent_ids: string[];
  }[];
  dispatches: {
    datacenter: string;
    node_size: string;
    requested_count: number;
    dispatched: boolean;
    status_code: number;
    detail: string;
  }[];
}

export const capacityDispatchWorkflowId = (requestId: string) => `capacity-dispatch:${requestId}`;

export interface PurchaseInput {
  accountId: string;
  /** `capacity-<16 hex>`: the ledger key is `capacity:<requestId>`. */
  requestId: string;
  datacenter: string;
  nodeSize: string;
  minWarmCount: number;
  months: number;
  reason: string;
}

export type PurchaseResult =
  | {
      ok: true;
      request_id: string;
      account_id: string;
      datacenter: string;
      node_size: string;
      min_warm_count: number;
      months: number;
      simulated_payment: boolean;
      charged_amount_usd: number;
      transaction_id: string;
      balance_after: number;
      target: TargetView;
      capacity: DispatchResponse;
    }
  | { ok: false; status: number; detail: string };

export const capacityPurchaseWorkflowId = (accountId: string, requestId: string) =>
  `capacity-purchase:${accountId}:${requestId}`;
