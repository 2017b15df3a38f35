/**
 * The launcher's view of the control plane: HTTP only (api.md §2, §11, §12), never the api/ code. Errors read
 * `control plane request failed: <METHOD> <path> -> <status>: <body>` (v1 worker wording) or `… unreachable: …`.
 */
import { LauncherError } from './errors';

export interface CpAgent {
  agent_id: string;
  vm_name: string;
  status?: string;
  health_status?: string;
  verified?: boolean;
  node_size?: string;
  hostname?: string | null;
}

export interface OrderView {
  order_id: string;
  datacenter: string;
  node_size: string;
  status: string;
  claim_expires_at?: string | null;
  vm_name?: string | null;
  error?: string | null;
  [k: string]: unknown;
}

export interface ClaimResponse {
  claimed: boolean;
  order: OrderView | null;
  bootstrap_token: string | null;
}

export type OrderStatus = 'claimed' | 'provisioning' | 'fulfilled' | 'failed';

export class CpClient {
  constructor(
    readonly baseUrl: string,
    private readonly token?: string,
    private readonly timeoutMs = 45_000,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  async request<T>(method: string, path: string, body?: unknown, token = this.token): Promise<T> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'easyenclave-launcher/2',
    };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new LauncherError(`control plane unreachable: ${method} ${this.baseUrl}${path}: ${cause}`);
    }
    const text = await res.text();
    if (!res.ok) {
      const compact = text.replace(/\s+/g, ' ').trim().slice(0, 4000);
      throw new CpHttpError(`control plane request failed: ${method} ${path} -> ${res.status}: ${compact}`, res.status);
    }
    if (!text.trim()) return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new LauncherError(`control plane answered non-JSON to ${method} ${path}`);
    }
  }

  async agents(vmName?: string): Promise<CpAgent[]> {
    const q = vmName ? `?vm_name=${encodeURIComponent(vmName)}` : '';
    const r = await this.request<{ agents?: CpAgent[] }>('GET', `/api/v1/agents${q}`);
    return r.agents ?? [];
  }

  /** The agent registered under exactly this vm_name (the CP filter is a substring match). */
  async agentByVmName(vmName: string): Promise<CpAgent | null> {
    return (await this.agents(vmName)).find((a) => a.vm_name === vmName) ?? null;
  }

  deleteAgent(agentId: string, adminToken?: string): Promise<unknown> {
    return this.request('DELETE', `/api/v1/agents/${encodeURIComponent(agentId)}`, undefined, adminToken);
  }

  addTrustedMrtd(mrtd: string, note: string, adminToken?: string): Promise<{ mrtd: string; type: string }> {
    return this.request('POST', '/api/v1/admin/trusted-mrtds', { mrtd, type: 'agent', note }, adminToken);
  }

  claimOrder(filter: { datacenter: string; node_size: string }): Promise<ClaimResponse> {
    return this.request('POST', '/api/v1/launchers/capacity/orders/claim', filter);
  }

  updateOrder(
    orderId: string,
    update: { status: OrderStatus; vm_name?: string | null; error?: string | null },
  ): Promise<OrderView> {
    return this.request('POST', `/api/v1/launchers/capacity/orders/${encodeURIComponent(orderId)}`, update);
  }
}

export class CpHttpError extends LauncherError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}
