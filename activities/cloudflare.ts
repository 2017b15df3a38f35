/**
 * Cloudflare tunnel + DNS activities (background.md §8).
 *
 * Every mutating activity is idempotent under the agent id: the tunnel is named `agent-<agentId>` and looked up by
 * name before it is created, the CNAME is looked up by host name before it is created (and repointed if it targets
 * another tunnel), and deletes treat Cloudflare's 404 as "already gone". A Temporal retry after a crash half-way
 * through therefore converges on one tunnel and one record.
 */
import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { SettingsReader } from '../core/settings/types';
import {
  CloudflareFailureType,
  cfRequest,
  isAlreadyExists,
  type CfClient,
  type CfResultInfo,
} from './cloudflare-client';

export { CloudflareFailureType, CloudflareUnavailableError } from './cloudflare-client';

export const DEFAULT_CLOUDFLARE_DOMAIN = 'easyenclave.com';
export const DEFAULT_CLOUDFLARE_API_URL = 'https://api.cloudflare.com/client/v4';
/** The control plane's own tunnel; never listed as orphaned, never deleted by the admin API (api.md Cloudflare admin). */
export const PROTECTED_TUNNEL_NAME = 'easyenclave-control-plane';
/** The agent API port inside the VM; the default ingress sends the agent hostname there. */
export const AGENT_API_PORT = 8081;
export const TUNNEL_CNAME_SUFFIX = '.cfargotunnel.com';
const DEFAULT_PAGE_SIZE = 100;
/** Guard against a Cloudflare that never reports the last page. */
const MAX_PAGES = 1000;

export const agentTunnelName = (agentId: string): string => `agent-${agentId}`;
export const agentHostname = (agentId: string, domain: string): string => `agent-${agentId}.${domain}`;
export const tunnelCnameTarget = (tunnelId: string): string => `${tunnelId}${TUNNEL_CNAME_SUFFIX}`;

// ---------- activity inputs / outputs (JSON-plain) ----------

export interface CloudflareConfiguredResult {
  configured: boolean;
  domain: string;
}

export interface EnsureAgentTunnelInput {
  agentId: string;
  /**
   * The agent id was minted by this registration, so no tunnel or CNAME of its name can exist except one left by an
   * earlier attempt of the same registration: create first (2 calls fewer) and fall back to the look-up on the
   * name-taken answer, which makes the retry as idempotent as look-up-then-create. Default false.
   */
  fresh?: boolean;
}
export interface EnsureAgentTunnelResult {
  tunnelId: string;
  tunnelName: string;
  tunnelToken: string;
  hostname: string;
  /** True when this call created the tunnel (false when an existing one was reused). */
  createdTunnel: boolean;
  dnsRecordId: string;
}

export interface IngressRuleInput {
  port: number;
  path?: string;
}
export interface UpdateTunnelIngressInput {
  tunnelId: string;
  hostname: string;
  /** One rule per app ingress entry; empty → the default rule (hostname → agent API on 8081). */
  rules: IngressRuleInput[];
}
export interface CfIngressRule {
  hostname?: string;
  path?: string;
  service: string;
}
export interface UpdateTunnelIngressResult {
  tunnelId: string;
  ingress: CfIngressRule[];
}

export interface DeleteAgentTunnelInput {
  tunnelId?: string | null;
  hostname?: string | null;
  /**
   * Lets a workflow compensate a registration that failed before it learnt the tunnel id: the tunnel is looked up
   * by its deterministic name and the hostname derived, unless given explicitly.
   */
  agentId?: string;
}
export interface DeleteAgentTunnelResult {
  tunnelId: string | null;
  /** True when this call deleted the tunnel; false when it was already gone or there was none. */
  tunnelDeleted: boolean;
  dnsRecordsDeleted: number;
}

export interface PageInput {
  page?: number;
  perPage?: number;
}
/** Row shape of background.md §8.2 "List tunnels" (what the admin API extends). */
export interface TunnelRow {
  tunnel_id: string;
  name: string;
  status: string;
  has_connections: boolean;
  connection_count: number;
  created_at: string | null;
}
/** Row shape of background.md §8.2 "List DNS". */
export interface DnsRecordRow {
  record_id: string;
  name: string;
  content: string;
  proxied: boolean;
  created_on: string | null;
}
export interface Page<T> {
  items: T[];
  result_info: CfResultInfo;
}
export interface AllItems<T> {
  items: T[];
}

export interface DeleteTunnelResult {
  tunnelId: string;
  deleted: boolean;
}
export interface DeleteDnsRecordResult {
  recordId: string;
  deleted: boolean;
}

// ---------- Cloudflare wire shapes (the parts we read) ----------

interface CfTunnel {
  id: string;
  name?: string;
  status?: string;
  created_at?: string;
  deleted_at?: string | null;
  connections?: unknown[];
  token?: string;
}
interface CfDnsRecord {
  id: string;
  type: string;
  name: string;
  content: string;
  proxied?: boolean;
  created_on?: string;
}

// ---------- factory ----------

export interface CloudflareActivityDeps {
  settings: SettingsReader;
  /** Injected so tests (and a proxying worker) can substitute it; defaults to Node's global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Per-request timeout; defaults to 30 s (background.md §8). */
  timeoutMs?: number;
}

interface CloudflareConfig {
  configured: boolean;
  accountId: string;
  zoneId: string;
  apiToken: string;
  domain: string;
  apiUrl: string;
}

export function createCloudflareActivities(deps: CloudflareActivityDeps) {
  const { settings } = deps;
  const fetchImpl: typeof globalThis.fetch = deps.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function readConfig(): Promise<CloudflareConfig> {
    const [accountId, zoneId, apiToken, domain, apiUrl] = (await Promise.all(
      (
        [
          'cloudflare.account_id',
          'cloudflare.zone_id',
          'cloudflare.api_token',
          'cloudflare.domain',
          'cloudflare.api_url',
        ] as const
      ).map(async (k) => (await settings.get(k)).trim()),
    )) as [string, string, string, string, string];
    return {
      configured: accountId !== '' && zoneId !== '' && apiToken !== '',
      accountId,
      zoneId,
      apiToken,
      domain: domain || DEFAULT_CLOUDFLARE_DOMAIN,
      apiUrl: (apiUrl || DEFAULT_CLOUDFLARE_API_URL).replace(/\/+$/, ''),
    };
  }

  /** Settings are re-read on every activity (they are cached for 5 s by the store) so admin edits apply promptly. */
  async function connect(): Promise<{ cfg: CloudflareConfig; client: CfClient; acct: string; zone: string }> {
    const cfg = await readConfig();
    if (!cfg.configured) {
      throw ApplicationFailure.nonRetryable('Cloudflare is not configured', CloudflareFailureType.NotConfigured);
    }
    return {
      cfg,
      client: { baseUrl: cfg.apiUrl, apiToken: cfg.apiToken, fetch: fetchImpl, timeoutMs: deps.timeoutMs },
      acct: `/accounts/${encodeURIComponent(cfg.accountId)}`,
      zone: `/zones/${encodeURIComponent(cfg.zoneId)}`,
    };
  }

  type Conn = Awaited<ReturnType<typeof connect>>;

  async function findTunnelByName(c: Conn, name: string): Promise<CfTunnel | undefined> {
    const { envelope } = await cfRequest<CfTunnel[]>(c.client, {
      method: 'GET',
      path: `${c.acct}/cfd_tunnel`,
      query: { name, is_deleted: false },
    });
    // Filter again locally: the name filter is the only thing standing between us and reusing someone else's tunnel.
    return (envelope.result ?? []).find((t) => t.name === name && !t.deleted_at);
  }

  async function listCnames(c: Conn, hostname: string): Promise<CfDnsRecord[]> {
    const { envelope } = await cfRequest<CfDnsRecord[]>(c.client, {
      method: 'GET',
      path: `${c.zone}/dns_records`,
      query: { type: 'CNAME', name: hostname },
    });
    const want = hostname.toLowerCase();
    return (envelope.result ?? []).filter((r) => r.type === 'CNAME' && r.name.toLowerCase() === want);
  }

  /** Make `hostname` a proxied CNAME to `target`; returns the record id. `createFirst`: skip the look-up (see `fresh`). */
  async function ensureCname(c: Conn, hostname: string, target: string, createFirst = false): Promise<string> {
    const reconcile = async (rec: CfDnsRecord): Promise<string> => {
      if (rec.content.toLowerCase() !== target.toLowerCase() || rec.proxied !== true) {
        // v1 left a record pointing at another tunnel alone [v1 quirk]; we repoint it so the host reaches this tunnel.
        await cfRequest(c.client, {
          method: 'PATCH',
          path: `${c.zone}/dns_records/${encodeURIComponent(rec.id)}`,
          body: { content: target, proxied: true },
        });
      }
      return rec.id;
    };

    if (!createFirst) {
      const existing = await listCnames(c, hostname);
      if (existing[0]) return reconcile(existing[0]);
    }

    // The FQDN (not v1's zone-relative label) keeps the record right when the domain is a sub-domain of the zone.
    const created = await cfRequest<CfDnsRecord>(c.client, {
      method: 'POST',
      path: `${c.zone}/dns_records`,
      body: { type: 'CNAME', name: hostname, content: target, proxied: true, ttl: 1 },
      accept: [400, 409],
    });
    if (created.status < 300) return created.envelope.result.id;
    if (isAlreadyExists(created)) {
      // Lost a race with a concurrent attempt, or an A/AAAA record holds the name (then this stays a rejection).
      const again = await listCnames(c, hostname);
      if (again[0]) return reconcile(again[0]);
    }
    throw ApplicationFailure.create({
      message: `Cloudflare POST ${c.zone}/dns_records → HTTP ${created.status}: ${created.envelope.errors
        .map((e) => `[${e.code}] ${e.message}`)
        .join('; ')}`,
      type: CloudflareFailureType.Rejected,
      nonRetryable: true,
      details: [{ status: created.status, errors: created.envelope.errors }],
    });
  }

  async function putIngress(c: Conn, tunnelId: string, ingress: CfIngressRule[]): Promise<void> {
    await cfRequest(c.client, {
      method: 'PUT',
      path: `${c.acct}/cfd_tunnel/${encodeURIComponent(tunnelId)}/configurations`,
      body: { config: { ingress } },
    });
  }

  /** Connections first: Cloudflare refuses to delete a tunnel with active connections (error 1022). */
  async function deleteTunnelById(c: Conn, tunnelId: string): Promise<boolean> {
    const path = `${c.acct}/cfd_tunnel/${encodeURIComponent(tunnelId)}`;
    await cfRequest(c.client, { method: 'DELETE', path: `${path}/connections`, accept: [404] });
    const res = await cfRequest(c.client, { method: 'DELETE', path, accept: [404] });
    return res.status < 300;
  }

  async function deleteRecordById(c: Conn, recordId: string): Promise<boolean> {
    const res = await cfRequest(c.client, {
      method: 'DELETE',
      path: `${c.zone}/dns_records/${encodeURIComponent(recordId)}`,
      accept: [404],
    });
    return res.status < 300;
  }

  async function fetchPage<W, R>(
    c: Conn,
    path: string,
    query: Record<string, string | boolean>,
    input: PageInput,
    map: (w: W) => R,
  ): Promise<Page<R>> {
    const page = positiveInt(input.page, 1, 'page');
    const perPage = positiveInt(input.perPage, DEFAULT_PAGE_SIZE, 'perPage');
    const { envelope } = await cfRequest<W[]>(c.client, {
      method: 'GET',
      path,
      query: { ...query, per_page: perPage, page },
    });
    const items = (envelope.result ?? []).map(map);
    const info = envelope.result_info;
    return {
      items,
      result_info: {
        page: info?.page ?? page,
        per_page: info?.per_page ?? perPage,
        count: info?.count ?? items.length,
        total_count: info?.total_count ?? items.length,
        total_pages: info?.total_pages ?? 1,
      },
    };
  }

  async function walkPages<R>(perPageIn: number | undefined, get: (input: PageInput) => Promise<Page<R>>) {
    const perPage = positiveInt(perPageIn, DEFAULT_PAGE_SIZE, 'perPage');
    const items: R[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const p = await get({ page, perPage });
      items.push(...p.items);
      // Stop on a short page (v1's rule) or when Cloudflare says this was the last one.
      if (p.items.length < perPage || page >= p.result_info.total_pages) break;
    }
    return { items };
  }

  const tunnelRow = (t: CfTunnel): TunnelRow => {
    const n = Array.isArray(t.connections) ? t.connections.length : 0;
    return {
      tunnel_id: t.id,
      name: t.name ?? '',
      status: t.status ?? 'unknown',
      has_connections: n > 0,
      connection_count: n,
      created_at: t.created_at ?? null,
    };
  };
  const dnsRow = (r: CfDnsRecord): DnsRecordRow => ({
    record_id: r.id,
    name: r.name,
    content: r.content,
    proxied: r.proxied ?? false,
    created_on: r.created_on ?? null,
  });

  return {
    /** Never throws for a missing configuration: it is how callers ask. */
    async cloudflareConfigured(_input: Record<string, never> = {}): Promise<CloudflareConfiguredResult> {
      const cfg = await readConfig();
      return { configured: cfg.configured, domain: cfg.domain };
    },

    /** Create-or-reuse the agent's tunnel, reset its ingress to the agent API, and point its CNAME at it. */
    async ensureAgentTunnel(input: EnsureAgentTunnelInput): Promise<EnsureAgentTunnelResult> {
      const agentId = requireAgentId(input?.agentId);
      const c = await connect();
      const tunnelName = agentTunnelName(agentId);
      const hostname = agentHostname(agentId, c.cfg.domain);

      let tunnel = input.fresh ? undefined : await findTunnelByName(c, tunnelName);
      let createdTunnel = false;
      if (!tunnel) {
        const res = await cfRequest<CfTunnel>(c.client, {
          method: 'POST',
          path: `${c.acct}/cfd_tunnel`,
          // config_src 'cloudflare' makes the tunnel remotely managed, so the ingress PUT below is what cloudflared runs.
          body: { name: tunnelName, tunnel_secret: randomBytes(32).toString('base64'), config_src: 'cloudflare' },
          accept: [409],
        });
        if (res.status < 300) {
          tunnel = res.envelope.result;
          createdTunnel = true;
        } else {
          // A concurrent attempt created it between our look-up and create: reuse theirs.
          tunnel = await findTunnelByName(c, tunnelName);
          if (!tunnel) {
            throw ApplicationFailure.nonRetryable(
              `Cloudflare refused to create tunnel ${tunnelName} (name taken) but no such tunnel is listed`,
              CloudflareFailureType.Rejected,
            );
          }
        }
      }
      const tunnelId = tunnel.id;
      const tunnelPath = `${c.acct}/cfd_tunnel/${encodeURIComponent(tunnelId)}`;

      let tunnelToken = createdTunnel && typeof tunnel.token === 'string' ? tunnel.token : '';
      if (!tunnelToken) {
        const { envelope } = await cfRequest<string>(c.client, { method: 'GET', path: `${tunnelPath}/token` });
        tunnelToken = envelope.result;
      }

      await putIngress(c, tunnelId, defaultIngress(hostname));
      const dnsRecordId = await ensureCname(c, hostname, tunnelCnameTarget(tunnelId), input.fresh === true);
      return { tunnelId, tunnelName, tunnelToken, hostname, createdTunnel, dnsRecordId };
    },

    /** Replace the tunnel's ingress with one rule per app ingress entry plus the 404 catch-all (background.md §8.2). */
    async updateTunnelIngress(input: UpdateTunnelIngressInput): Promise<UpdateTunnelIngressResult> {
      const tunnelId = requireString(input?.tunnelId, 'tunnelId');
      const hostname = requireString(input?.hostname, 'hostname');
      const ingress = buildIngress(hostname, input.rules ?? []);
      const c = await connect();
      await putIngress(c, tunnelId, ingress);
      return { tunnelId, ingress };
    },

    /** Delete the agent's tunnel (connections first) and its CNAME record(s); anything already gone is skipped. */
    async deleteAgentTunnel(input: DeleteAgentTunnelInput): Promise<DeleteAgentTunnelResult> {
      const c = await connect();
      let tunnelId = input?.tunnelId || null;
      let hostname = input?.hostname || null;
      if (input?.agentId !== undefined) {
        const agentId = requireAgentId(input.agentId);
        hostname ??= agentHostname(agentId, c.cfg.domain);
        tunnelId ??= (await findTunnelByName(c, agentTunnelName(agentId)))?.id ?? null;
      }

      const tunnelDeleted = tunnelId ? await deleteTunnelById(c, tunnelId) : false;
      let dnsRecordsDeleted = 0;
      if (hostname) {
        for (const rec of await listCnames(c, hostname)) {
          if (await deleteRecordById(c, rec.id)) dnsRecordsDeleted++;
        }
      }
      return { tunnelId, tunnelDeleted, dnsRecordsDeleted };
    },

    /** One page of non-deleted tunnels. */
    async listTunnels(input: PageInput = {}): Promise<Page<TunnelRow>> {
      const c = await connect();
      return fetchPage<CfTunnel, TunnelRow>(c, `${c.acct}/cfd_tunnel`, { is_deleted: false }, input, tunnelRow);
    },

    /** Every non-deleted tunnel, page by page (background.md §8.2). `perPage` only matters to tests. */
    async listAllTunnels(input: { perPage?: number } = {}): Promise<AllItems<TunnelRow>> {
      const c = await connect();
      return walkPages(input?.perPage, (p) =>
        fetchPage<CfTunnel, TunnelRow>(c, `${c.acct}/cfd_tunnel`, { is_deleted: false }, p, tunnelRow),
      );
    },

    /** One page of the zone's CNAME records. */
    async listDnsRecords(input: PageInput = {}): Promise<Page<DnsRecordRow>> {
      const c = await connect();
      return fetchPage<CfDnsRecord, DnsRecordRow>(c, `${c.zone}/dns_records`, { type: 'CNAME' }, input, dnsRow);
    },

    /** Every CNAME record of the zone, page by page (used by the orphan sweep, background.md §8.3). */
    async listAllDnsRecords(input: { perPage?: number } = {}): Promise<AllItems<DnsRecordRow>> {
      const c = await connect();
      return walkPages(input?.perPage, (p) =>
        fetchPage<CfDnsRecord, DnsRecordRow>(c, `${c.zone}/dns_records`, { type: 'CNAME' }, p, dnsRow),
      );
    },

    /** `deleted: false` means Cloudflare no longer had it (404). */
    async deleteTunnel(input: { tunnelId: string }): Promise<DeleteTunnelResult> {
      const tunnelId = requireString(input?.tunnelId, 'tunnelId');
      const c = await connect();
      return { tunnelId, deleted: await deleteTunnelById(c, tunnelId) };
    },

    /** `deleted: false` means Cloudflare no longer had it (404). */
    async deleteDnsRecord(input: { recordId: string }): Promise<DeleteDnsRecordResult> {
      const recordId = requireString(input?.recordId, 'recordId');
      const c = await connect();
      return { recordId, deleted: await deleteRecordById(c, recordId) };
    },
  };
}

export type CloudflareActivities = ReturnType<typeof createCloudflareActivities>;

// ---------- pure helpers ----------

export function defaultIngress(hostname: string): CfIngressRule[] {
  return [{ hostname, service: `http://localhost:${AGENT_API_PORT}` }, { service: 'http_status:404' }];
}

/** background.md §8.2: `{hostname, service: http://localhost:<port>[, path]}` per entry, then the catch-all. */
export function buildIngress(hostname: string, rules: readonly IngressRuleInput[]): CfIngressRule[] {
  if (!Array.isArray(rules)) invalid('rules must be an array');
  if (rules.length === 0) return defaultIngress(hostname);
  const out: CfIngressRule[] = rules.map((r, i) => {
    if (typeof r !== 'object' || r === null) invalid(`rules[${i}] must be an object`);
    const { port, path } = r;
    if (!Number.isInteger(port) || port < 1 || port > 65535) invalid(`rules[${i}].port must be an integer 1-65535`);
    const rule: CfIngressRule = { hostname, service: `http://localhost:${port}` };
    if (path !== undefined && path !== null && path !== '') {
      if (typeof path !== 'string') invalid(`rules[${i}].path must be a string`);
      rule.path = path;
    }
    return rule;
  });
  out.push({ service: 'http_status:404' });
  return out;
}

function invalid(message: string): never {
  throw ApplicationFailure.nonRetryable(message, CloudflareFailureType.InvalidInput);
}

function requireString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') invalid(`${field} is required`);
  return value.trim();
}

/** The id becomes a DNS label (`agent-<id>`), so only letters, digits and hyphens are allowed. */
function requireAgentId(value: unknown): string {
  const id = requireString(value, 'agentId');
  if (!/^[A-Za-z0-9-]{1,57}$/.test(id)) invalid(`agentId ${JSON.stringify(id)} cannot form a DNS label`);
  return id;
}

function positiveInt(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || value < 1) invalid(`${field} must be a positive integer`);
  return value;
}
