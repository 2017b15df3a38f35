/**
 * Typed HTTP client for ONE agent's API (agent.md §8/§9, background.md §9). No Temporal imports: the activities in
 * activities/agent.ts map its errors onto Temporal failures. Besides activities, only the API imports it, and only
 * for the documented read-only pulls (docs/design-notes.md "Import arrows"): logs/stats (api/routes/logs.ts,
 * api/routes/agents-admin.ts) and the service proxy's agent address (api/routes/proxy.ts). Every change to an agent
 * goes through a workflow. The in-VM agent never imports this file (agent/core/deploy-payload.ts is its own side
 * of the wire).
 *
 * Every failure is an `AgentHttpError` with a `kind` the caller branches on:
 * - `unreachable` — DNS/connect/reset, no HTTP answer (`status` null);
 * - `timeout` — no complete answer within the per-call timeout (`status` null);
 * - `http` — the agent answered with a status this call does not accept (`status` set, `body` = first 2 KB);
 * - `invalid_json` — an accepted status with a body that is not the JSON object expected.
 *
 * Auth (agent.md §7.1, attestation.md §9.2): `X-Agent-Secret` is sent on deploy/undeploy/logs/stats whenever a
 * secret is known. v1 sent none on logs/stats, so v1 agents answered 401 [v1 bug, agent.md §13]; health stays
 * unauthenticated as in v1.
 */

/** Default timeouts of background.md §9. */
export const AGENT_TIMEOUTS_MS = {
  health: 10_000,
  healthAttest: 30_000,
  logs: 30_000,
  stats: 10_000,
  deploy: 30_000,
  undeploy: 30_000,
} as const;

/** How much of an error body is kept on `AgentHttpError.body`. */
const MAX_ERROR_BODY = 2048;

// ---------- wire shapes ----------

export interface AgentContainer {
  name: string;
  /** `running` if `docker ps` said `Up…`, else `stopped`. */
  status: string;
}

/** GET /api/health (agent.md §8.2). Unknown extra fields are kept. */
export interface AgentHealth {
  status: string;
  agent_id?: string | null;
  vm_name?: string | null;
  deployment_id?: string | null;
  deployed_app?: string | null;
  datacenter?: string | null;
  control_plane?: string | null;
  timestamp?: string;
  attestation_source?: string | null;
  attestation_cached_at?: string | null;
  containers?: AgentContainer[];
  /** Only with `attest: true`. */
  attestation?: Record<string, unknown>;
  /** Only with `attest: true`, when the agent could not attest (still HTTP 200). */
  attestation_error?: string;
  [key: string]: unknown;
}

/** GET /api/logs (agent.md §8.3). */
export interface AgentLogLine {
  container: string;
  line: string;
}
export interface AgentLogs {
  logs: AgentLogLine[];
  count: number;
}

/** GET /api/stats (agent.md §8.4); `{}` when the agent cannot measure. */
export interface AgentStats {
  cpu_percent?: number;
  load_avg?: number[];
  memory_percent?: number;
  memory_used_gb?: number;
  memory_total_gb?: number;
  disk_percent?: number;
  disk_used_gb?: number;
  disk_total_gb?: number;
  net_bytes_sent?: number;
  net_bytes_recv?: number;
  uptime_seconds?: number;
  [key: string]: unknown;
}

/** Deployment `config` keys the agent reads (agent.md §9.1); the rest is passed through untouched. */
export interface AgentDeployConfig {
  /** Whitespace-split into `docker compose up` args; agent default `--build -d`. */
  compose_up_args?: string;
  /** Agent default `/health`. */
  health_endpoint?: string;
  /** Agent default 8080. */
  health_port?: number;
  service_name?: string;
  service_url?: string;
  app_name?: string;
  [key: string]: unknown;
}

/** POST /api/deploy body (agent.md §9.1, api.md §4.1 "Push to agent"); field names as on the wire. */
export interface AgentDeployPayload {
  deployment_id: string;
  app_name: string;
  /** Overrides the agent's datacenter label when non-empty. */
  datacenter: string;
  /** **base64** of the docker-compose YAML (as stored in `deployments.compose`). */
  compose: string;
  /** filename → base64 content; v1 always sent null. */
  build_context?: Record<string, string> | null;
  config: AgentDeployConfig;
  /**
   * The paid-for limits (trust issue item 8): the agent applies them to every service of the compose, so a
   * deployment never takes more of the VM than it is billed for.
   */
  resources?: AgentDeployResources;
  /** HPKE envelope of the tenant's env sealed to this agent (issue #17); opened only inside the agent. */
  encrypted_env?: { enc: string; ct: string } | null;
}

export interface AgentDeployResources {
  cpu_vcpus: number;
  memory_gb: number;
  gpu_count: number;
}

/** 202 body of POST /api/deploy. */
export interface AgentDeployAccepted {
  status: string;
  deployment_id?: string;
  [key: string]: unknown;
}

/** 200 body of POST /api/undeploy. */
export interface AgentUndeployed {
  status: string;
  [key: string]: unknown;
}

// ---------- errors ----------

export type AgentHttpErrorKind = 'unreachable' | 'timeout' | 'http' | 'invalid_json';

export class AgentHttpError extends Error {
  override readonly name = 'AgentHttpError';
  constructor(
    message: string,
    readonly kind: AgentHttpErrorKind,
    /** HTTP status, null when no answer came back. */
    readonly status: number | null,
    /** Response body (truncated), '' when none. */
    readonly body: string,
  ) {
    super(message);
  }
}

/** Neither a tunnel hostname nor an `operational.agent_direct_url` template: there is no way to reach the agent. */
export class AgentAddressError extends Error {
  override readonly name = 'AgentAddressError';
}

// ---------- base URL ----------

export interface AgentBaseUrlInput {
  agentId: string;
  hostname?: string | null;
  /** `operational.agent_direct_url`; blank → `https://<hostname>`. `{agent_id}` and `{hostname}` are substituted. */
  directUrlTemplate?: string | null;
}

/** A bare DNS name or IP, optionally with a port; anything else (scheme, path, spaces) is refused. */
const HOSTNAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$/;

/** Base URL (no trailing slash) under which the agent's `/api/...` routes live. Throws `AgentAddressError`. */
export function agentBaseUrl({ agentId, hostname, directUrlTemplate }: AgentBaseUrlInput): string {
  const host = hostname?.trim() ?? '';
  if (host !== '' && !HOSTNAME_RE.test(host)) throw new AgentAddressError(`Invalid agent hostname: ${host}`);
  const template = directUrlTemplate?.trim() ?? '';

  if (template !== '') {
    if (template.includes('{hostname}') && host === '') {
      throw new AgentAddressError(`Agent ${agentId} has no hostname and AGENT_DIRECT_URL needs {hostname}`);
    }
    const url = template
      .replaceAll('{agent_id}', encodeURIComponent(agentId))
      .replaceAll('{hostname}', host)
      .replace(/\/+$/, '');
    try {
      const parsed = new URL(url);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw new AgentAddressError(`AGENT_DIRECT_URL does not give a valid http(s) URL: ${url}`);
    }
    return url;
  }

  if (host === '') throw new AgentAddressError(`Agent ${agentId} has no hostname and AGENT_DIRECT_URL is not set`);
  return `https://${host}`;
}

// ---------- client ----------

export interface AgentClientOptions {
  /** From `agentBaseUrl`; no trailing slash needed. */
  baseUrl: string;
  /** The agent's control secret in clear; null/absent → no `X-Agent-Secret` header. */
  secret?: string | null;
  /** Defaults to Node's global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Overrides every per-call default timeout of `AGENT_TIMEOUTS_MS` (tests). */
  timeoutMs?: number;
  /** Aborts every call (e.g. the activity's cancellation signal); its reason is rethrown unchanged. */
  signal?: AbortSignal;
}

export interface AgentControlOptions {
  /** Precomputed `X-CP-Attestation` envelope (attestation.md §9.3), when the CP attests itself. */
  cpAttestation?: string;
}

export interface AgentClient {
  readonly baseUrl: string;
  /** 200 + JSON object, else throws. `attest: true` asks for a fresh attestation (slower: 30 s timeout). */
  health(opts?: { attest?: boolean }): Promise<AgentHealth>;
  logs(opts?: { since?: string; container?: string; lines?: number }): Promise<AgentLogs>;
  stats(): Promise<AgentStats>;
  /** Accepted only on 202 (v1 semantics); the agent deploys in the background and calls back `/deployed`. */
  deploy(payload: AgentDeployPayload, opts?: AgentControlOptions): Promise<AgentDeployAccepted>;
  /** Synchronous `compose down`; 2xx → done. */
  undeploy(opts?: AgentControlOptions): Promise<AgentUndeployed>;
  /** GET /api/control/challenge (agent.md §7.2): a single-use nonce for the next `X-CP-Attestation`. */
  controlChallenge(): Promise<AgentControlChallenge>;
}

/** 200 body of GET /api/control/challenge. */
export interface AgentControlChallenge {
  nonce: string;
  ttl_seconds?: number;
  issued_at?: string;
  [key: string]: unknown;
}

interface CallSpec {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  auth: boolean;
  cpAttestation?: string;
  timeoutMs: number;
  /** Statuses that count as success. */
  ok: (status: number) => boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function createAgentClient(opts: AgentClientOptions): AgentClient {
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const fetchImpl: typeof globalThis.fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const secret = opts.secret ? opts.secret : null;
  const timeout = (def: number) => opts.timeoutMs ?? def;

  async function call(spec: CallSpec): Promise<Record<string, unknown>> {
    const url = new URL(baseUrl + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const what = `agent ${spec.method} ${url.toString()}`;

    const headers: Record<string, string> = { Accept: 'application/json' };
    if (spec.body !== undefined) headers['Content-Type'] = 'application/json';
    if (spec.auth && secret) headers['X-Agent-Secret'] = secret;
    if (spec.cpAttestation) headers['X-CP-Attestation'] = spec.cpAttestation;

    const timer = AbortSignal.timeout(spec.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timer]) : timer;

    let res: Response;
    let text: string;
    try {
      res = await fetchImpl(url, {
        method: spec.method,
        headers,
        // v1's agent reads the body by Content-Length; POSTs without a payload send an empty one.
        body: spec.body === undefined ? (spec.method === 'POST' ? '' : undefined) : JSON.stringify(spec.body),
        signal,
        redirect: 'manual',
      });
      text = await res.text();
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      if (timer.aborted) {
        throw new AgentHttpError(`${what} timed out after ${spec.timeoutMs} ms`, 'timeout', null, '');
      }
      throw new AgentHttpError(`${what} failed: ${describeError(err)}`, 'unreachable', null, '');
    }

    const body = text.slice(0, MAX_ERROR_BODY);
    if (!spec.ok(res.status)) {
      throw new AgentHttpError(
        `${what} → HTTP ${res.status}${body ? `: ${body.slice(0, 240)}` : ''}`,
        'http',
        res.status,
        body,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!isObject(parsed)) {
      throw new AgentHttpError(
        `${what} → HTTP ${res.status} without a JSON object body`,
        'invalid_json',
        res.status,
        body,
      );
    }
    return parsed;
  }

  return {
    baseUrl,

    async health({ attest = false } = {}) {
      const body = await call({
        method: 'GET',
        path: '/api/health',
        query: { attest: attest ? 'true' : undefined },
        auth: false,
        timeoutMs: timeout(attest ? AGENT_TIMEOUTS_MS.healthAttest : AGENT_TIMEOUTS_MS.health),
        ok: (s) => s === 200, // background.md §2.1: only 200 + JSON is healthy
      });
      return body as AgentHealth;
    },

    async logs({ since, container, lines } = {}) {
      const body = await call({
        method: 'GET',
        path: '/api/logs',
        query: { since, container, lines },
        auth: true,
        timeoutMs: timeout(AGENT_TIMEOUTS_MS.logs),
        ok: (s) => s === 200,
      });
      const logs = Array.isArray(body.logs)
        ? body.logs.filter(isObject).map((l) => ({ container: String(l.container ?? ''), line: String(l.line ?? '') }))
        : [];
      return { logs, count: typeof body.count === 'number' ? body.count : logs.length };
    },

    async stats() {
      return (await call({
        method: 'GET',
        path: '/api/stats',
        auth: true,
        timeoutMs: timeout(AGENT_TIMEOUTS_MS.stats),
        ok: (s) => s === 200,
      })) as AgentStats;
    },

    async deploy(payload, { cpAttestation } = {}) {
      return (await call({
        method: 'POST',
        path: '/api/deploy',
        body: payload,
        auth: true,
        cpAttestation,
        timeoutMs: timeout(AGENT_TIMEOUTS_MS.deploy),
        ok: (s) => s === 202, // api.md §4.1: only 202 counts as accepted
      })) as AgentDeployAccepted;
    },

    async undeploy({ cpAttestation } = {}) {
      return (await call({
        method: 'POST',
        path: '/api/undeploy',
        auth: true,
        cpAttestation,
        timeoutMs: timeout(AGENT_TIMEOUTS_MS.undeploy),
        ok: (s) => s >= 200 && s < 300,
      })) as AgentUndeployed;
    },

    async controlChallenge() {
      const body = await call({
        method: 'GET',
        path: '/api/control/challenge',
        auth: true,
        timeoutMs: timeout(AGENT_TIMEOUTS_MS.health),
        ok: (s) => s === 200,
      });
      if (typeof body.nonce !== 'string' || body.nonce.trim() === '') {
        throw new AgentHttpError(
          `agent GET ${baseUrl}/api/control/challenge → 200 without a nonce`,
          'invalid_json',
          200,
          '',
        );
      }
      return body as AgentControlChallenge;
    },
  };
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici hides the useful part (ECONNREFUSED, ENOTFOUND…) in `cause`.
  const cause = (err as { cause?: unknown }).cause;
  const detail = cause instanceof Error ? ` (${(cause as { code?: string }).code ?? cause.message})` : '';
  return `${err.name}: ${err.message}${detail}`;
}
