/**
 * A small fake control plane speaking the wire format the launcher uses (api.md §2, §11, §12), for the worker's
 * edge cases (lease expiry, wrong keys) that are slow or awkward to stage on the real one:
 * - `POST /api/v1/launchers/capacity/orders/claim` (Bearer launcher key, else 401/403): oldest open order matching
 *   `{datacenter, node_size}` → claimed with a fresh 43-char bootstrap token and `claim_expires_at`; none → 204.
 * - `POST /api/v1/launchers/capacity/orders/:id` `{status, vm_name, error}`: 422 on a bad status, 404 when unknown
 *   or claimed by someone else, 409 once closed (failed, or fulfilled by its agent); applies background.md §6.4.
 * - `POST /api/v1/agents/register` `{vm_name, node_size, bootstrap_token}`: the token must be an issued, unused
 *   order token (403 otherwise); creates the agent (status `undeployed`, verified false: insecure-local) and, as the
 *   real CP does, fulfils and closes the order.
 * tests/launcher/worker-real-cp.test.ts runs the same worker against the real control plane.
 * - `GET /api/v1/agents[?vm_name=]` (substring), `DELETE /api/v1/agents/:id` and `POST /api/v1/admin/trusted-mrtds`
 *   (Bearer admin token).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeOrder {
  order_id: string;
  datacenter: string;
  node_size: string;
  status: string;
  claimed_by_account_id: string | null;
  claim_expires_at: string | null;
  fulfilled_at: string | null;
  vm_name: string | null;
  error: string | null;
  bootstrap_token: string | null;
  bootstrap_token_used: boolean;
  history: string[];
}

export interface FakeLauncherCp {
  url: string;
  orders: FakeOrder[];
  agents: {
    agent_id: string;
    vm_name: string;
    node_size: string;
    status: string;
    verified: boolean;
    bootstrap_token?: string;
  }[];
  trustedMrtds: { mrtd: string; type: string; note: string }[];
  requests: { method: string; path: string; auth: string | undefined; body: unknown }[];
  addOrder(o: { datacenter: string; node_size: string }): FakeOrder;
  addAgent(vmName: string): string;
  /** Lease length handed out by claims (seconds). */
  claimTtlSeconds: number;
  /** Accept registrations without a bootstrap token (agents launched by hand, not for an order). */
  openRegistration: boolean;
  close(): Promise<void>;
}

const LAUNCHER_ACCOUNT = 'launcher-account-1';

export async function startFakeLauncherCp(opts: { launcherKey: string; adminToken: string }): Promise<FakeLauncherCp> {
  const cp: Omit<FakeLauncherCp, 'url' | 'close'> = {
    orders: [],
    agents: [],
    trustedMrtds: [],
    requests: [],
    claimTtlSeconds: 600,
    openRegistration: false,
    addOrder: (o) => {
      const order: FakeOrder = {
        order_id: randomUUID(),
        datacenter: o.datacenter,
        node_size: o.node_size,
        status: 'open',
        claimed_by_account_id: null,
        claim_expires_at: null,
        fulfilled_at: null,
        vm_name: null,
        error: null,
        bootstrap_token: null,
        bootstrap_token_used: false,
        history: ['open'],
      };
      cp.orders.push(order);
      return order;
    },
    addAgent: (vmName) => {
      const id = randomUUID();
      cp.agents.push({ agent_id: id, vm_name: vmName, node_size: 'tiny', status: 'undeployed', verified: false });
      return id;
    },
  };
  const view = (o: FakeOrder) => {
    const { bootstrap_token: _t, bootstrap_token_used: _u, history: _h, ...rest } = o;
    return rest;
  };
  const read = (req: IncomingMessage) =>
    new Promise<unknown>((resolve) => {
      let s = '';
      req.on('data', (d: Buffer) => (s += d.toString()));
      req.on('end', () => {
        try {
          resolve(s ? JSON.parse(s) : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = (await read(req)) as Record<string, unknown> | undefined;
      const auth = req.headers.authorization;
      cp.requests.push({ method: req.method ?? '', path: url.pathname + url.search, auth, body });
      const send = (status: number, data: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(data));
      };
      const bearer = auth?.replace(/^Bearer\s+/i, '');
      const launcherAuth = () => {
        if (!auth) return (send(401, { detail: 'Missing Authorization header' }), false);
        if (bearer !== opts.launcherKey) return (send(403, { detail: 'Launcher API key required' }), false);
        return true;
      };
      const adminAuth = () => {
        if (bearer !== opts.adminToken) return (send(401, { detail: 'Invalid session token' }), false);
        return true;
      };
      const path = url.pathname;
      let m: RegExpExecArray | null;
      if (req.method === 'POST' && path === '/api/v1/launchers/capacity/orders/claim') {
        if (!launcherAuth()) return;
        const dc = String(body?.datacenter ?? '')
          .trim()
          .toLowerCase();
        const size = String(body?.node_size ?? '')
          .trim()
          .toLowerCase();
        if (size && !['tiny', 'standard', 'llm'].includes(size)) {
          return send(422, { detail: 'Invalid node_size. Expected one of: tiny, standard, llm' });
        }
        const now = Date.now();
        for (const o of cp.orders) {
          if (
            (o.status === 'claimed' || o.status === 'provisioning') &&
            o.claim_expires_at &&
            Date.parse(o.claim_expires_at) < now
          ) {
            Object.assign(o, {
              status: 'open',
              claimed_by_account_id: null,
              claim_expires_at: null,
              vm_name: null,
              bootstrap_token: null,
              error: 'claim expired and was re-queued',
            });
            o.history.push('open');
          }
        }
        const order = cp.orders.find(
          (o) => o.status === 'open' && (!dc || o.datacenter === dc) && (!size || o.node_size === size),
        );
        if (!order) {
          res.writeHead(204);
          return res.end();
        }
        order.status = 'claimed';
        order.history.push('claimed');
        order.claimed_by_account_id = LAUNCHER_ACCOUNT;
        order.claim_expires_at = new Date(now + cp.claimTtlSeconds * 1000).toISOString();
        order.bootstrap_token = randomBytes(32).toString('base64url');
        order.bootstrap_token_used = false;
        return send(200, { claimed: true, order: view(order), bootstrap_token: order.bootstrap_token });
      }
      if (req.method === 'POST' && (m = /^\/api\/v1\/launchers\/capacity\/orders\/([^/]+)$/.exec(path))) {
        if (!launcherAuth()) return;
        const status = String(body?.status ?? '')
          .trim()
          .toLowerCase();
        if (!['claimed', 'provisioning', 'fulfilled', 'failed'].includes(status))
          return send(422, { detail: 'invalid order status' });
        const order = cp.orders.find((o) => o.order_id === m![1]);
        if (!order || (order.claimed_by_account_id && order.claimed_by_account_id !== LAUNCHER_ACCOUNT)) {
          return send(404, { detail: 'Capacity launch order not found' });
        }
        if (order.status === 'failed' || (order.status === 'fulfilled' && order.bootstrap_token_used)) {
          return send(409, {
            detail: `Capacity launch order ${order.order_id} is closed; it takes no further updates`,
          });
        }
        order.status = status;
        order.history.push(status);
        order.claimed_by_account_id = LAUNCHER_ACCOUNT;
        if (typeof body?.vm_name === 'string') order.vm_name = body.vm_name.trim() || null;
        if (typeof body?.error === 'string') order.error = body.error.trim() || null;
        if (status === 'fulfilled')
          Object.assign(order, { fulfilled_at: new Date().toISOString(), claim_expires_at: null });
        if (status === 'failed') order.claim_expires_at = null;
        return send(200, view(order));
      }
      if (req.method === 'POST' && path === '/api/v1/agents/register') {
        const token = String(body?.bootstrap_token ?? '');
        const order = cp.orders.find(
          (o) => o.bootstrap_token && o.bootstrap_token === token && !o.bootstrap_token_used,
        );
        const untokened = cp.openRegistration && !token;
        if (!untokened && (!order || (order.vm_name && order.vm_name !== body?.vm_name))) {
          return send(403, { detail: 'invalid bootstrap token' });
        }
        if (order) {
          // The real CP: the token's registration fulfils the order and closes it (later reports get 409).
          order.bootstrap_token_used = true;
          Object.assign(order, {
            status: 'fulfilled',
            vm_name: String(body?.vm_name),
            fulfilled_at: new Date().toISOString(),
            claim_expires_at: null,
          });
          order.history.push('fulfilled');
        }
        const agent_id = randomUUID();
        cp.agents.push({
          agent_id,
          vm_name: String(body?.vm_name),
          node_size: String(body?.node_size ?? 'tiny'),
          status: 'undeployed',
          verified: false,
          bootstrap_token: token || undefined,
        });
        return send(200, { agent_id });
      }
      if (req.method === 'GET' && path === '/api/v1/agents') {
        const q = url.searchParams.get('vm_name')?.toLowerCase();
        const agents = cp.agents.filter((a) => !q || a.vm_name.toLowerCase().includes(q));
        return send(200, { agents, total: agents.length });
      }
      if (req.method === 'DELETE' && (m = /^\/api\/v1\/agents\/([^/]+)$/.exec(path))) {
        if (!adminAuth()) return;
        const i = cp.agents.findIndex((a) => a.agent_id === m![1]);
        if (i < 0) return send(404, { detail: 'Agent not found' });
        cp.agents.splice(i, 1);
        return send(200, { status: 'deleted', agent_id: m[1] });
      }
      if (req.method === 'POST' && path === '/api/v1/admin/trusted-mrtds') {
        if (!adminAuth()) return;
        const mrtd = String(body?.mrtd ?? '').toLowerCase();
        if (!/^[0-9a-f]{96}$/.test(mrtd)) return send(400, { detail: 'mrtd must be a 96-character hex string' });
        const entry = { mrtd, type: String(body?.type ?? 'agent'), note: String(body?.note ?? '') };
        cp.trustedMrtds.push(entry);
        return send(200, entry);
      }
      send(404, { detail: 'Not Found' });
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(cp, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }) as FakeLauncherCp;
}
