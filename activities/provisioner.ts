/**
 * External provisioner webhooks (background.md §10): dispatch of a launch order, inventory, cleanup. Every call
 * carries `Authorization: Bearer <token>` (the call's token setting, else provisioner.webhook_token) and an
 * HMAC-SHA256 signature over `<timestamp>.<body>` (core/provisioner.ts; key provisioner.signing_secret, else the
 * bearer token), so the receiver can check origin, integrity and freshness. Timeouts are provisioner.timeout_seconds
 * per call; retries are the calling workflow's activity policy: network errors, 5xx, 408 and 429 throw a plain
 * (retryable) error, any other 4xx is permanent.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { KeyRing } from '../core/auth/keyring';
import { unseal } from '../core/auth/seal';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, requestedCount, webhookSignature } from '../core/provisioner';
import type { SettingKey } from '../core/settings/registry';
import type { SettingsReader } from '../core/settings/types';
import type { SealedValue } from '../workflows/contracts/agents';
import { CapacityFailure } from '../workflows/contracts/failures';

export interface ProvisionerDeps {
  settings: SettingsReader;
  sealingKey: KeyRing;
  fetch?: typeof globalThis.fetch;
}

/** Thrown for a transient failure (retried by the activity policy). */
export class ProvisionerUnavailableError extends Error {
  override readonly name = 'ProvisionerUnavailable';
}

type Kind = 'webhook' | 'inventory' | 'cleanup';

export interface ProvisionerCallResult {
  configured: boolean;
  status: number | null;
  detail: string | null;
  payload: Record<string, unknown>;
}

export interface DispatchOrderInput {
  orderId: string;
  claimNo: number;
  datacenter: string;
  nodeSize: string;
  vmName: string;
  reason: string;
  /** The order's one-time bootstrap token, sealed (unsealed only here, for the request body). */
  token: SealedValue;
}

export interface CleanupRequest {
  dry_run: boolean;
  only_orphaned: boolean;
  providers: string[];
  resource_ids: string[];
  reason: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const transient = (status: number) => status >= 500 || status === 408 || status === 429;

export function createProvisionerActivities({ settings, sealingKey, fetch: fetchImpl }: ProvisionerDeps) {
  const doFetch: typeof globalThis.fetch = fetchImpl ?? ((i, o) => globalThis.fetch(i, o));
  const get = async (k: SettingKey) => (await settings.get(k)).trim();

  async function endpoint(kind: Kind): Promise<{ url: string; token: string; secret: string; timeoutMs: number }> {
    const url = await get(kind === 'webhook' ? 'provisioner.webhook_url' : `provisioner.${kind}_url`);
    const token =
      (kind === 'webhook' ? '' : await get(`provisioner.${kind}_token`)) || (await get('provisioner.webhook_token'));
    const secret = (await get('provisioner.signing_secret')) || token;
    const t = Number.parseFloat(await get('provisioner.timeout_seconds'));
    return { url, token, secret, timeoutMs: (Number.isFinite(t) && t > 0 ? t : 20) * 1000 };
  }

  /** One signed call; transport failures throw ProvisionerUnavailableError, HTTP answers come back. */
  async function call(
    kind: Kind,
    method: 'GET' | 'POST',
    body: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<{ status: number; text: string }> {
    const ep = await endpoint(kind);
    const raw = body === undefined ? '' : JSON.stringify(body);
    const ts = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = { accept: 'application/json', ...extraHeaders };
    if (raw) headers['content-type'] = 'application/json';
    if (ep.token) headers.authorization = `Bearer ${ep.token}`;
    if (ep.secret) {
      headers[TIMESTAMP_HEADER] = String(ts);
      headers[SIGNATURE_HEADER] = webhookSignature(ep.secret, ts, raw);
    }
    let res: Response;
    try {
      res = await doFetch(ep.url, {
        method,
        headers,
        ...(raw ? { body: raw } : {}),
        signal: AbortSignal.timeout(ep.timeoutMs),
      });
    } catch (err) {
      throw new ProvisionerUnavailableError(`Provisioner ${kind} call failed: ${(err as Error).message}`);
    }
    const text = await res.text().catch(() => '');
    return { status: res.status, text };
  }

  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  };

  return {
    async provisionerConfigured(_input: Record<string, never> = {}) {
      return {
        dispatch: (await get('provisioner.webhook_url')) !== '',
        inventory: (await get('provisioner.inventory_url')) !== '',
        cleanup: (await get('provisioner.cleanup_url')) !== '',
      };
    },

    /**
     * §10.1 for one launch order (v1 never called it): the provisioner makes one VM named `vmName` whose agent
     * registers with the token. Idempotency-Key `launch-order:<order>:<claim>` lets the receiver drop a retried
     * request. A 4xx (bad token, bad signature, refused) fails the order; transient failures are retried.
     */
    async dispatchProvisionerOrder(input: DispatchOrderInput): Promise<{ status: number }> {
      const controlPlaneUrl = (await get('gcp.control_plane_url')) || 'https://app.easyenclave.com';
      const token = unseal(sealingKey, input.token);
      const body = {
        order_id: input.orderId,
        datacenter: input.datacenter,
        node_size: input.nodeSize || 'tiny',
        count: 1,
        reason: input.reason,
        requested_at: new Date().toISOString(),
        vm_name: input.vmName,
        bootstrap_token: token,
        // What the VM's agent reads (agent/README.md); the provisioner writes it to /etc/easyenclave/config.json.
        agent_config: {
          mode: 'agent',
          control_plane_url: controlPlaneUrl,
          node_size: input.nodeSize || 'tiny',
          datacenter: input.datacenter,
          vm_name: input.vmName,
          bootstrap_token: token,
          bootstrap_order_id: input.orderId,
        },
      };
      if (!(await get('provisioner.webhook_url'))) {
        throw ApplicationFailure.nonRetryable(
          'Provisioner webhook is not configured',
          CapacityFailure.ProvisionerRejected,
        );
      }
      const r = await call('webhook', 'POST', body, {
        'idempotency-key': `launch-order:${input.orderId}:${input.claimNo}`,
      });
      if (r.status < 400) return { status: r.status };
      const detail = `Provisioner webhook refused the order: HTTP ${r.status}${r.text ? `: ${r.text.slice(0, 300)}` : ''}`;
      if (transient(r.status)) throw new ProvisionerUnavailableError(detail);
      throw ApplicationFailure.nonRetryable(detail, CapacityFailure.ProvisionerRejected);
    },

    /** §10.2: never throws for an answer; transport errors and 5xx throw (retried), then the caller reports them. */
    async provisionerInventory(_input: Record<string, never> = {}): Promise<ProvisionerCallResult> {
      if (!(await get('provisioner.inventory_url'))) {
        return { configured: false, status: null, detail: 'External inventory webhook is not configured', payload: {} };
      }
      const r = await call('inventory', 'GET', undefined);
      if (transient(r.status)) throw new ProvisionerUnavailableError(`External inventory webhook: HTTP ${r.status}`);
      if (r.status >= 400)
        return { configured: true, status: r.status, detail: r.text || `HTTP ${r.status}`, payload: {} };
      const v = parse(r.text);
      if (v === undefined) {
        return {
          configured: true,
          status: r.status,
          detail: 'External inventory webhook returned non-JSON response',
          payload: {},
        };
      }
      if (!isObj(v)) {
        return {
          configured: true,
          status: r.status,
          detail: 'External inventory webhook returned JSON but not an object payload',
          payload: {},
        };
      }
      return { configured: true, status: r.status, detail: null, payload: v };
    },

    /** §10.4 (`dispatched` = the receiver accepted it). */
    async provisionerCleanup(
      input: CleanupRequest,
    ): Promise<ProvisionerCallResult & { dispatched: boolean; requested_count: number }> {
      if (!(await get('provisioner.cleanup_url'))) {
        return {
          configured: false,
          dispatched: false,
          status: null,
          detail: 'External cleanup webhook is not configured',
          payload: {},
          requested_count: 0,
        };
      }
      const r = await call('cleanup', 'POST', { ...input, requested_at: new Date().toISOString() });
      if (transient(r.status)) throw new ProvisionerUnavailableError(`External cleanup webhook: HTTP ${r.status}`);
      if (r.status >= 400) {
        return {
          configured: true,
          dispatched: false,
          status: r.status,
          detail: r.text || `HTTP ${r.status}`,
          payload: {},
          requested_count: 0,
        };
      }
      const v = parse(r.text);
      const payload = isObj(v) ? v : {};
      const detail = typeof payload.detail === 'string' ? payload.detail : null;
      return {
        configured: true,
        dispatched: true,
        status: r.status,
        detail,
        payload,
        requested_count: requestedCount(payload),
      };
    },
  };
}

export type ProvisionerActivities = ReturnType<typeof createProvisionerActivities>;
