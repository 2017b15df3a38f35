/**
 * A local fake of the in-VM agent HTTP API (agent.md §8/§9) that can stand in for MANY agents at once: requests under
 * `/agents/<agentId>/api/...` are routed to that agent's state, so a test points the control plane at it with
 *
 *   AGENT_DIRECT_URL = fake.directUrlTemplate   // `http://127.0.0.1:<port>/agents/{agent_id}`
 *
 * Plain `/api/...` (no prefix) is served as agent `default`. Agents spring into existence on first use with healthy
 * defaults; `fake.agent(id)` returns the live, mutable state to configure or inspect.
 *
 * Modelled behaviours:
 * - Auth as v1's `_check_api_auth`: when an agent has a `secret`, logs/stats/challenge/deploy/undeploy need
 *   `X-Agent-Secret: <secret>` or `Authorization: Bearer <secret>`, else 401 `{"error":"Unauthorized"}`.
 *   With `secret` null everything is allowed (v1: "before registration").
 * - POST /api/deploy: 400 on a non-JSON body, else records the payload and answers 202 `{status:"accepted",
 *   deployment_id}`. With `repeatDeploy: 'conflict'` it answers 409 `{error, deployment_id: <current>}` while a deploy
 *   is in flight or the same id is deployed (the rewrite agent contract); v1 (`'accept'`, default) redeploys. Optional callback to the CP afterwards (§5.4).
 * - POST /api/undeploy: 200 `{status:"undeployed"}`, clears the deployment.
 * - `runs`: when each agent reported a workload running (deployed callback → undeploy / crash); `crash(id)` and
 *   `revive(id)` model a VM that dies and boots again (failover tests).
 * - Health modes: `healthy` (200 JSON), `unhealthy` (503 JSON), `error500` (500 text), `slow` (200 after
 *   `healthDelayMs`), `non_json` (200 HTML), `drop` (connection destroyed).
 * - `failNext(n, status)` answers the next n matching requests with `status` (or drops them with `network`).
 */
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeHealthMode = 'healthy' | 'unhealthy' | 'error500' | 'slow' | 'non_json' | 'drop';

export interface FakeCallbackOptions {
  /** Base URL of the control plane (no trailing slash). */
  cpUrl: string;
  /** Wait before calling back (default 0). */
  delayMs?: number;
  /** `deployed` → POST /deployed (default); `error` → POST /status `{status:"error"}`. */
  outcome?: 'deployed' | 'error';
  /** Error text for `outcome: 'error'`. */
  error?: string;
}

export interface FakeAgentState {
  readonly agentId: string;
  /** Control secret the agent checks (and uses as Bearer on callbacks); null → no auth (v1 pre-registration). */
  secret: string | null;
  healthMode: FakeHealthMode;
  /** Delay for `slow` health (default 5000 ms). */
  healthDelayMs: number;
  /** Local status string (agent.md §10). */
  status: string;
  vmName: string;
  datacenter: string;
  deploymentId: string | null;
  deployedApp: string | null;
  containers: { name: string; status: string }[];
  /** Served by GET /api/logs (filtered by `container`). */
  logLines: { container: string; line: string }[];
  /** Served by GET /api/stats. */
  stats: Record<string, unknown>;
  /**
   * `accept` (v1: no guard, every deploy restarts) or `conflict` (serialised rewrite agent: 409 naming the current
   * `deployment_id` while a deploy is in flight, or when the same id is already deployed).
   */
  repeatDeploy: 'accept' | 'conflict';
  /** Call the CP back after an accepted deploy; null → never. */
  callback: FakeCallbackOptions | null;
  /** Every accepted deploy payload, in order. */
  readonly deploys: Record<string, unknown>[];
  /** Number of accepted undeploys. */
  undeploys: number;
  /**
   * When this agent reported the workload running, per deployment: from its `deployed` callback to the undeploy or
   * crash that ended it (`to` null while it runs). A test compares agents' runs to show a deployment never ran on
   * two at once.
   */
  readonly runs: { deploymentId: string; from: number; to: number | null }[];
  /** Hold the answer to POST /api/deploy this long after recording it (a push in flight; default 0). */
  deployDelayMs: number;
  /** The VM is down (`crash`): every request to it has its connection dropped. */
  down: boolean;
  /** Callbacks made (with the CP's answer status, 0 on a network error). */
  readonly callbacks: { path: string; body: unknown; status: number }[];
  /**
   * Where non-`/api/` requests go, as v1's agent reverse-proxies them to the workload (port 8080): method, path,
   * query, headers and body forwarded, the answer streamed back. null → 502 "Workload not running".
   */
  workloadUrl: string | null;
}

export interface FakeAgentRequest {
  agentId: string;
  method: string;
  /** Agent-relative path (`/api/health`), without the `/agents/<id>` prefix and query. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  /** Raw request body. */
  body: string;
  /** Status answered (0 for a dropped connection, -1 while still pending). */
  status: number;
}

export interface FakeAgentFault {
  /** Only this agent (default: any). */
  agentId?: string;
  /** Only paths containing this string. */
  pathIncludes?: string;
  method?: string;
  /** Destroy the connection instead of answering. */
  network?: boolean;
}

export interface FakeAgentServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `http://127.0.0.1:<port>/agents/{agent_id}` — the AGENT_DIRECT_URL value for this server. */
  readonly directUrlTemplate: string;
  /** Every request received, in order (mutable). */
  readonly requests: FakeAgentRequest[];
  /** Live state of one agent (created with defaults on first use). */
  agent(
    agentId: string,
    init?: Partial<Omit<FakeAgentState, 'agentId' | 'deploys' | 'callbacks' | 'runs'>>,
  ): FakeAgentState;
  /** Answer the next `n` matching requests with `status` (default 500), then behave normally. */
  failNext(n: number, status?: number, match?: FakeAgentFault): void;
  /**
   * The VM dies: every connection to it is dropped and its workload stops (the open run ends), while its
   * persisted state — the deployment it was given, status `deployed` — survives for `revive`.
   */
  crash(agentId: string): void;
  /** The VM boots again and answers health; it still claims its old deployment (status `deployed`, its id). */
  revive(agentId: string): void;
  /** Forget all agents, faults, pending callbacks and the request log. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_AGENT = 'default';
/** Local statuses of a deploy still running (agent.md §10). */
const IN_FLIGHT = new Set(['deploying', 'setup', 'building', 'waiting_for_health', 'attesting']);

/** Sleep, but wake as soon as the client (or `close()`) drops the connection, so no timer outlives the test. */
function delayUnlessClosed(res: ServerResponse, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    res.once('close', done);
    function done() {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    }
  });
}

function newAgent(agentId: string): FakeAgentState {
  return {
    agentId,
    secret: null,
    healthMode: 'healthy',
    healthDelayMs: 5000,
    status: 'undeployed',
    vmName: `vm-${agentId.slice(0, 8)}`,
    datacenter: 'baremetal:default',
    deploymentId: null,
    deployedApp: null,
    containers: [],
    logLines: [
      { container: 'app-web-1', line: '2026-11-24T00:00:00.000000000Z listening on :8080' },
      { container: 'app-db-1', line: '2026-11-24T00:00:01.000000000Z ready for connections' },
    ],
    stats: {
      cpu_percent: 3.5,
      load_avg: [0.1, 0.05, 0.01],
      memory_percent: 21.4,
      memory_used_gb: 0.86,
      memory_total_gb: 4,
      disk_percent: 40.2,
      disk_used_gb: 1.2,
      disk_total_gb: 3,
      net_bytes_sent: 1234,
      net_bytes_recv: 5678,
      uptime_seconds: 3600,
    },
    repeatDeploy: 'accept',
    callback: null,
    deploys: [],
    undeploys: 0,
    callbacks: [],
    workloadUrl: null,
    runs: [],
    deployDelayMs: 0,
    down: false,
  };
}

function endRun(a: FakeAgentState): void {
  for (const r of a.runs) if (r.to === null) r.to = Date.now();
}

export async function startFakeAgent(): Promise<FakeAgentServer> {
  let agents = new Map<string, FakeAgentState>();
  let faults: (FakeAgentFault & { status: number; remaining: number })[] = [];
  let timers = new Set<NodeJS.Timeout>();
  const requests: FakeAgentRequest[] = [];

  function agent(agentId: string, init: Partial<FakeAgentState> = {}): FakeAgentState {
    let a = agents.get(agentId);
    if (!a) {
      a = newAgent(agentId);
      agents.set(agentId, a);
    }
    Object.assign(a, init);
    return a;
  }

  function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': contentType,
      'Content-Length': Buffer.byteLength(text),
      Connection: 'close', // v1's BaseHTTPRequestHandler speaks HTTP/1.0
    });
    res.end(text);
  }

  function authorized(a: FakeAgentState, req: IncomingMessage): boolean {
    if (!a.secret) return true;
    if (req.headers['x-agent-secret'] === a.secret) return true;
    const auth = req.headers.authorization;
    return typeof auth === 'string' && auth.startsWith('Bearer ') && auth.slice(7).trim() === a.secret;
  }

  function healthObject(a: FakeAgentState): Record<string, unknown> {
    return {
      status: a.status,
      agent_id: a.agentId,
      vm_name: a.vmName,
      deployment_id: a.deploymentId,
      deployed_app: a.deployedApp,
      datacenter: a.datacenter,
      control_plane: a.callback?.cpUrl ?? null,
      timestamp: new Date().toISOString(),
      attestation_source: 'startup_registration',
      attestation_cached_at: new Date().toISOString(),
      containers: a.containers,
    };
  }

  function scheduleCallback(a: FakeAgentState, deploymentId: string): void {
    const cb = a.callback;
    if (!cb) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const outcome = cb.outcome ?? 'deployed';
      const path = `/api/v1/agents/${encodeURIComponent(a.agentId)}/${outcome === 'deployed' ? 'deployed' : 'status'}`;
      const body =
        outcome === 'deployed'
          ? { deployment_id: deploymentId, service_id: '', attestation: { tdx: { fake: true }, workload: {} } }
          : { status: 'error', deployment_id: deploymentId, error: cb.error ?? 'fake deploy failure' };
      if (outcome === 'deployed') {
        a.status = 'deployed';
        a.containers = [{ name: 'app-web-1', status: 'running' }];
        endRun(a);
        a.runs.push({ deploymentId, from: Date.now(), to: null });
      } else {
        a.status = 'error';
        a.deployedApp = null;
      }
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (a.secret) headers.Authorization = `Bearer ${a.secret}`;
      // Like v1: errors are swallowed and the answer is not inspected beyond recording it.
      fetch(cb.cpUrl.replace(/\/+$/, '') + path, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      })
        .then(async (r) => {
          await r.arrayBuffer();
          a.callbacks.push({ path, body, status: r.status });
        })
        .catch(() => a.callbacks.push({ path, body, status: 0 }));
    }, cb.delayMs ?? 0);
    timers.add(timer);
  }

  async function route(
    a: FakeAgentState,
    entry: FakeAgentRequest,
    req: IncomingMessage,
    res: ServerResponse,
    rawBody: Buffer,
  ) {
    const key = `${entry.method} ${entry.path}`;
    const answer = (status: number, body: unknown, contentType?: string) => {
      entry.status = status;
      send(res, status, body, contentType);
    };
    const unauthorized = () => answer(401, { error: 'Unauthorized' });

    switch (key) {
      case 'GET /api/health':
      case 'GET /api/status': {
        const attest = key === 'GET /api/health' && (entry.query.attest ?? '').toLowerCase() === 'true';
        switch (a.healthMode) {
          case 'drop':
            entry.status = 0;
            req.socket.destroy();
            return;
          case 'error500':
            return answer(500, 'Internal Server Error', 'text/plain');
          case 'non_json':
            return answer(200, '<html><body>not the agent</body></html>', 'text/html');
          case 'unhealthy':
            return answer(503, { ...healthObject(a), status: 'error', error: 'agent unhealthy' });
          case 'slow':
            await delayUnlessClosed(res, a.healthDelayMs);
            if (res.destroyed || req.socket.destroyed) {
              entry.status = 0;
              return;
            }
            break;
          case 'healthy':
            break;
        }
        const body = healthObject(a);
        if (attest)
          body.attestation = { tdx: { intel_ta_token: 'fake.ita.token', measurements: { mrtd: 'ab'.repeat(48) } } };
        return answer(200, body);
      }
      case 'GET /api/logs': {
        if (!authorized(a, req)) return unauthorized();
        const filter = entry.query.container;
        const logs = filter ? a.logLines.filter((l) => l.container.includes(filter)) : a.logLines;
        return answer(200, { logs, count: logs.length });
      }
      case 'GET /api/stats':
        if (!authorized(a, req)) return unauthorized();
        return answer(200, a.stats);
      case 'GET /api/control/challenge':
        if (!authorized(a, req)) return unauthorized();
        return answer(200, {
          nonce: randomBytes(32).toString('hex'),
          ttl_seconds: 180,
          issued_at: new Date().toISOString(),
        });
      case 'POST /api/deploy': {
        if (!authorized(a, req)) return unauthorized();
        let payload: unknown;
        try {
          payload = JSON.parse(entry.body);
        } catch (err) {
          return answer(400, { error: `Invalid JSON: ${(err as Error).message}` });
        }
        if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
          return answer(400, { error: 'Invalid JSON: expected an object' });
        }
        const p = payload as Record<string, unknown>;
        const deploymentId = typeof p.deployment_id === 'string' ? p.deployment_id : 'unknown';
        if (a.repeatDeploy === 'conflict' && a.deploymentId !== null) {
          const inFlight = IN_FLIGHT.has(a.status);
          const same = a.deploymentId === deploymentId;
          if (inFlight || (same && a.status === 'deployed')) {
            return answer(409, {
              error: same ? 'already deploying this deployment' : 'busy with another deployment',
              deployment_id: a.deploymentId,
            });
          }
        }
        a.deploys.push(p);
        a.deploymentId = deploymentId;
        a.deployedApp = typeof p.app_name === 'string' && p.app_name !== '' ? p.app_name : null;
        if (typeof p.datacenter === 'string' && p.datacenter !== '') a.datacenter = p.datacenter;
        a.status = 'deploying';
        if (a.deployDelayMs > 0) await delayUnlessClosed(res, a.deployDelayMs);
        if (res.destroyed || req.socket.destroyed) {
          // The caller gave up on the answer; the deploy itself was taken (as a real agent would have).
          entry.status = 0;
          scheduleCallback(a, deploymentId);
          return;
        }
        answer(202, { status: 'accepted', deployment_id: deploymentId });
        scheduleCallback(a, deploymentId);
        return;
      }
      case 'POST /api/undeploy':
        if (!authorized(a, req)) return unauthorized();
        a.undeploys += 1;
        endRun(a);
        a.status = 'undeployed';
        a.deploymentId = null;
        a.deployedApp = null;
        a.containers = [];
        return answer(200, { status: 'undeployed' });
      default: {
        // v1 reverse-proxies everything else to the workload; with none running that is a 502.
        if (!a.workloadUrl || entry.path.startsWith('/api/')) return answer(502, { error: 'Workload not running' });
        const target = new URL(a.workloadUrl);
        const search = new URL(req.url ?? '/', 'http://fake-agent').search;
        const up = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            method: entry.method,
            path: entry.path + search,
            headers: { ...req.headers, host: target.host },
          },
          (upRes) => {
            entry.status = upRes.statusCode ?? 502;
            res.writeHead(entry.status, upRes.headers);
            upRes.pipe(res);
          },
        );
        up.on('error', () => answer(502, { error: 'Workload not reachable' }));
        up.end(rawBody);
        return;
      }
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake-agent');
    const m = /^\/agents\/([^/]+)(\/.*)$/.exec(url.pathname);
    const agentId = m ? decodeURIComponent(m[1]!) : DEFAULT_AGENT;
    const path = m ? m[2]! : url.pathname;
    const entry: FakeAgentRequest = {
      agentId,
      method: req.method ?? 'GET',
      path,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      body: Buffer.concat(chunks).toString('utf8'),
      status: -1,
    };
    requests.push(entry);

    const fault = faults.find(
      (f) =>
        (f.agentId === undefined || f.agentId === agentId) &&
        (f.pathIncludes === undefined || path.includes(f.pathIncludes)) &&
        (f.method === undefined || f.method.toUpperCase() === entry.method),
    );
    if (fault) {
      fault.remaining -= 1;
      faults = faults.filter((f) => f.remaining > 0);
      if (fault.network) {
        entry.status = 0;
        req.socket.destroy();
        return;
      }
      entry.status = fault.status;
      send(res, fault.status, { error: `injected failure (HTTP ${fault.status})` });
      return;
    }
    const a = agent(agentId);
    if (a.down) {
      entry.status = 0;
      req.socket.destroy();
      return;
    }
    await route(a, entry, req, res, Buffer.concat(chunks));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    directUrlTemplate: `${url}/agents/{agent_id}`,
    requests,
    agent,
    failNext(n, status = 500, match = {}) {
      if (n > 0) faults.push({ ...match, status, remaining: n });
    },
    crash(agentId) {
      const a = agent(agentId);
      a.down = true;
      a.containers = [];
      endRun(a);
    },
    revive(agentId) {
      agent(agentId).down = false;
    },
    reset() {
      for (const t of timers) clearTimeout(t);
      timers = new Set();
      agents = new Map();
      faults = [];
      requests.length = 0;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
