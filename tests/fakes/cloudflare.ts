/**
 * A local fake of the Cloudflare v4 API: the tunnel and DNS endpoints easyenclave uses, with in-memory state and the
 * real wire format (envelope, result_info pagination, error codes), so activities run unchanged against it.
 *
 *   const cf = await startFakeCloudflare();
 *   settings: cloudflare.api_url = cf.url, account_id = cf.accountId, zone_id = cf.zoneId, api_token = cf.apiToken
 *
 * Modelled behaviours worth knowing:
 * - Tunnels are soft-deleted (`deleted_at`); `is_deleted=false|true` filters, no filter lists both.
 * - Deleting a tunnel with active connections fails (400, code 1022) unless they are cleared first.
 * - A second live tunnel with the same name is refused (409, code 1013).
 * - DNS names are stored as FQDNs: a relative name gets `.<zoneName>` appended, like Cloudflare does.
 * - A CNAME cannot share its name with another A/AAAA/CNAME (400, code 81053; identical record 81057).
 * - Wrong or missing bearer → 401, code 10000; another account/zone id → 403, code 10000.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeCloudflareOptions {
  accountId?: string;
  zoneId?: string;
  /** The zone's apex; relative DNS names are expanded under it. */
  zoneName?: string;
  apiToken?: string;
}

export interface FakeConnection {
  id: string;
  uuid: string;
  colo_name: string;
  is_pending_reconnect: boolean;
  origin_ip: string;
  opened_at: string;
  client_id: string;
  client_version: string;
}

export interface FakeTunnel {
  id: string;
  name: string;
  created_at: string;
  deleted_at: string | null;
  connections: FakeConnection[];
  /** Set once a connection was ever seen (status `down` instead of `inactive` after they go). */
  conns_active_at: string | null;
  conns_inactive_at: string | null;
  config_src: 'cloudflare' | 'local';
  tunnel_secret: string;
  token: string;
  /** Last configuration PUT (`{ingress, ...}`), or null. */
  config: Record<string, unknown> | null;
  config_version: number;
}

export interface FakeDnsRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  type: string;
  name: string;
  content: string;
  proxied: boolean;
  proxiable: boolean;
  ttl: number;
  comment: string | null;
  created_on: string;
  modified_on: string;
}

export interface RecordedRequest {
  method: string;
  /** Path including `/client/v4`, without the query string. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  /** The status the fake answered with (0 for a dropped connection). */
  status: number;
}

export interface FaultOptions {
  /** HTTP status to answer with (default 500). Ignored when `network` is set. */
  status?: number;
  /** Only requests whose path contains this string are affected. */
  pathIncludes?: string;
  /** Only requests with this method are affected. */
  method?: string;
  /** Drop the connection instead of answering (the client sees a network error). */
  network?: boolean;
  /** Hold the request this long, then answer it normally (a slow or hung Cloudflare); `status`/`network` ignored. */
  stallMs?: number;
}

export interface FakeCloudflare {
  /** Base URL for `cloudflare.api_url`, e.g. `http://127.0.0.1:PORT/client/v4`. */
  readonly url: string;
  readonly accountId: string;
  readonly zoneId: string;
  readonly zoneName: string;
  readonly apiToken: string;
  /** Every request received, in order (mutable: tests may clear it with `requests.length = 0`). */
  readonly requests: RecordedRequest[];
  /** Copies of the tunnels; deleted ones only with `includeDeleted`. */
  tunnels(opts?: { includeDeleted?: boolean }): FakeTunnel[];
  /** Copies of all DNS records. */
  dnsRecords(): FakeDnsRecord[];
  /** Make the next `n` matching requests fail (HTTP status or dropped connection), then behave normally. */
  failNext(n: number, opts?: FaultOptions): void;
  /** Drop every pending fault. */
  clearFaults(): void;
  /** Simulate cloudflared connecting to a tunnel. */
  addConnection(tunnelId: string, count?: number): void;
  /** Insert a tunnel directly (for list/cleanup tests); returns a copy. */
  seedTunnel(t: Partial<FakeTunnel> & { name: string }): FakeTunnel;
  /** Insert a DNS record directly; returns a copy. */
  seedDnsRecord(r: Partial<FakeDnsRecord> & { name: string; content: string }): FakeDnsRecord;
  /** Forget all state, faults and the request log. */
  reset(): void;
  close(): Promise<void>;
}

interface Envelope {
  success: boolean;
  errors: { code: number; message: string }[];
  messages: { code: number; message: string }[];
  result: unknown;
  result_info?: { page: number; per_page: number; count: number; total_count: number; total_pages: number };
}

class CfError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const ok = (result: unknown, result_info?: Envelope['result_info']): Envelope => ({
  success: true,
  errors: [],
  messages: [],
  result,
  ...(result_info ? { result_info } : {}),
});

const BASE = '/client/v4';

export async function startFakeCloudflare(opts: FakeCloudflareOptions = {}): Promise<FakeCloudflare> {
  const accountId = opts.accountId ?? 'acct-0123456789abcdef';
  const zoneId = opts.zoneId ?? 'zone-0123456789abcdef';
  const zoneName = (opts.zoneName ?? 'easyenclave.test').toLowerCase();
  const apiToken = opts.apiToken ?? 'fake-cf-token';

  let tunnels = new Map<string, FakeTunnel>();
  let records = new Map<string, FakeDnsRecord>();
  let faults: (Required<Pick<FaultOptions, 'status'>> & FaultOptions & { remaining: number })[] = [];
  const requests: RecordedRequest[] = [];
  const now = () => new Date().toISOString();

  const tokenFor = (id: string, secret: string) =>
    Buffer.from(JSON.stringify({ a: accountId, t: id, s: secret })).toString('base64');

  function tunnelView(t: FakeTunnel) {
    const status = t.connections.length > 0 ? 'healthy' : t.conns_active_at ? 'down' : 'inactive';
    return {
      id: t.id,
      account_tag: accountId,
      created_at: t.created_at,
      deleted_at: t.deleted_at,
      name: t.name,
      connections: t.connections,
      conns_active_at: t.conns_active_at,
      conns_inactive_at: t.conns_inactive_at,
      tun_type: 'cfd_tunnel',
      metadata: {},
      status,
      remote_config: t.config_src === 'cloudflare',
      config_src: t.config_src,
    };
  }

  const fqdn = (name: string): string => {
    const n = name.trim().toLowerCase().replace(/\.$/, '');
    if (n === '@' || n === zoneName) return zoneName;
    return n.endsWith(`.${zoneName}`) ? n : `${n}.${zoneName}`;
  };

  function paginate<T>(items: T[], query: URLSearchParams, defaultPerPage: number, maxPerPage: number) {
    const page = Math.max(1, Number.parseInt(query.get('page') ?? '1', 10) || 1);
    const perPage = Math.min(
      maxPerPage,
      Math.max(1, Number.parseInt(query.get('per_page') ?? '', 10) || defaultPerPage),
    );
    const slice = items.slice((page - 1) * perPage, page * perPage);
    return ok(slice, {
      page,
      per_page: perPage,
      count: slice.length,
      total_count: items.length,
      total_pages: Math.max(1, Math.ceil(items.length / perPage)),
    });
  }

  function liveTunnel(id: string): FakeTunnel {
    const t = tunnels.get(id);
    if (!t || t.deleted_at) throw new CfError(404, 1003, 'Tunnel not found');
    return t;
  }

  function checkDnsConflict(type: string, name: string, content: string, selfId?: string) {
    for (const r of records.values()) {
      if (r.id === selfId || r.name !== name) continue;
      if (r.type === type && r.content === content) throw new CfError(400, 81057, 'The record already exists.');
      if (type === 'CNAME' && ['A', 'AAAA', 'CNAME'].includes(r.type)) {
        throw new CfError(400, 81053, 'An A, AAAA, or CNAME record with that host already exists.');
      }
      if ((type === 'A' || type === 'AAAA') && r.type === 'CNAME') {
        throw new CfError(400, 81054, 'A CNAME record with that host already exists.');
      }
    }
  }

  function validateRecord(body: Record<string, unknown>): { type: string; name: string; content: string } {
    const { type, name, content } = body;
    if (typeof type !== 'string' || !['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'NS'].includes(type)) {
      throw new CfError(400, 9004, 'DNS Validation Error: invalid or missing record type');
    }
    if (typeof name !== 'string' || name.trim() === '') throw new CfError(400, 9005, 'DNS name is invalid.');
    if (typeof content !== 'string' || content.trim() === '')
      throw new CfError(400, 9021, 'Invalid content for a record.');
    if (body.proxied === true && !['A', 'AAAA', 'CNAME'].includes(type)) {
      throw new CfError(400, 9004, 'This record type cannot be proxied.');
    }
    return { type, name: fqdn(name), content: content.trim() };
  }

  function handle(method: string, path: string, query: URLSearchParams, body: unknown): Envelope {
    if (!path.startsWith(`${BASE}/`))
      throw new CfError(404, 7003, `Could not route to ${path}, perhaps your object identifier is invalid?`);
    const parts = path
      .slice(BASE.length + 1)
      .split('/')
      .map(decodeURIComponent);
    const obj = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const notAllowed = () => new CfError(405, 10405, `Method ${method} not allowed for this endpoint`);

    // ---- tunnels: /accounts/{acct}/cfd_tunnel[/{id}[/token|/connections|/configurations]]
    if (parts[0] === 'accounts' && parts[2] === 'cfd_tunnel') {
      if (parts[1] !== accountId) throw new CfError(403, 10000, 'Authentication error');
      const id = parts[3];
      const sub = parts[4];
      if (parts.length > 5)
        throw new CfError(404, 7003, `Could not route to ${path}, perhaps your object identifier is invalid?`);

      if (id === undefined) {
        if (method === 'GET') {
          const isDeleted = query.get('is_deleted');
          const name = query.get('name');
          const uuid = query.get('uuid');
          const items = [...tunnels.values()]
            .filter((t) =>
              isDeleted === 'true' ? t.deleted_at !== null : isDeleted === 'false' ? t.deleted_at === null : true,
            )
            .filter((t) => name === null || t.name === name)
            .filter((t) => uuid === null || t.id === uuid)
            .sort((a, b) => a.created_at.localeCompare(b.created_at))
            .map(tunnelView);
          return paginate(items, query, 20, 1000);
        }
        if (method === 'POST') {
          const name = obj.name;
          if (typeof name !== 'string' || name.trim() === '') throw new CfError(400, 1001, 'Invalid tunnel name');
          const configSrc = obj.config_src === undefined ? 'local' : obj.config_src;
          if (configSrc !== 'local' && configSrc !== 'cloudflare') throw new CfError(400, 1001, 'Invalid config_src');
          let secret = obj.tunnel_secret;
          if (secret === undefined && configSrc === 'cloudflare') secret = randomBytes(32).toString('base64');
          if (typeof secret !== 'string' || Buffer.from(secret, 'base64').length < 32) {
            throw new CfError(400, 1001, 'tunnel_secret must be at least 32 bytes, base64 encoded');
          }
          if ([...tunnels.values()].some((t) => t.name === name && t.deleted_at === null)) {
            throw new CfError(409, 1013, 'You already have a tunnel with this name.');
          }
          const tid = randomUUID();
          const t: FakeTunnel = {
            id: tid,
            name,
            created_at: now(),
            deleted_at: null,
            connections: [],
            conns_active_at: null,
            conns_inactive_at: null,
            config_src: configSrc,
            tunnel_secret: secret,
            token: tokenFor(tid, secret),
            config: null,
            config_version: 0,
          };
          tunnels.set(tid, t);
          return ok({
            ...tunnelView(t),
            credentials_file: { AccountTag: accountId, TunnelID: tid, TunnelName: name, TunnelSecret: secret },
            token: t.token,
          });
        }
        throw notAllowed();
      }

      if (sub === undefined) {
        if (method === 'GET') {
          const t = tunnels.get(id);
          if (!t) throw new CfError(404, 1003, 'Tunnel not found');
          return ok(tunnelView(t));
        }
        if (method === 'DELETE') {
          const t = liveTunnel(id);
          if (t.connections.length > 0) {
            throw new CfError(400, 1022, 'Cannot delete tunnel because it has active connections.');
          }
          t.deleted_at = now();
          return ok(tunnelView(t));
        }
        throw notAllowed();
      }

      if (sub === 'token') {
        if (method !== 'GET') throw notAllowed();
        return ok(liveTunnel(id).token);
      }

      if (sub === 'connections') {
        if (method === 'GET') return ok(liveTunnel(id).connections);
        if (method === 'DELETE') {
          const t = liveTunnel(id);
          if (t.connections.length > 0) t.conns_inactive_at = now();
          t.connections = [];
          return ok(null);
        }
        throw notAllowed();
      }

      if (sub === 'configurations') {
        const t = liveTunnel(id);
        const view = () => ({
          tunnel_id: t.id,
          version: t.config_version,
          config: t.config,
          source: t.config_src,
          created_at: now(),
        });
        if (method === 'GET') return ok(view());
        if (method === 'PUT') {
          const config = obj.config as Record<string, unknown> | undefined;
          const ingress = config?.ingress;
          if (!Array.isArray(ingress) || ingress.length === 0) {
            throw new CfError(400, 1056, 'Validation failed: config.ingress must be a non-empty list');
          }
          ingress.forEach((rule: unknown, i: number) => {
            const r = rule as Record<string, unknown> | null;
            if (typeof r !== 'object' || r === null || typeof r.service !== 'string' || r.service === '') {
              throw new CfError(400, 1056, `Validation failed: ingress rule #${i + 1} has no service`);
            }
          });
          const last = ingress[ingress.length - 1] as Record<string, unknown>;
          if (last.hostname !== undefined || last.path !== undefined) {
            throw new CfError(
              400,
              1056,
              'Validation failed: The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)',
            );
          }
          t.config = structuredClone(config as Record<string, unknown>);
          t.config_version += 1;
          return ok(view());
        }
        throw notAllowed();
      }
      throw new CfError(404, 7003, `Could not route to ${path}, perhaps your object identifier is invalid?`);
    }

    // ---- DNS: /zones/{zone}/dns_records[/{id}]
    if (parts[0] === 'zones' && parts[2] === 'dns_records' && parts.length <= 4) {
      if (parts[1] !== zoneId) throw new CfError(403, 10000, 'Authentication error');
      const id = parts[3];
      const view = (r: FakeDnsRecord) => ({
        ...r,
        meta: { auto_added: false, source: 'primary' },
        locked: false,
        tags: [],
      });

      if (id === undefined) {
        if (method === 'GET') {
          const type = query.get('type');
          const name = query.get('name');
          const content = query.get('content');
          const items = [...records.values()]
            .filter((r) => type === null || r.type === type)
            .filter((r) => name === null || r.name === fqdn(name))
            .filter((r) => content === null || r.content === content)
            .sort((a, b) => a.created_on.localeCompare(b.created_on))
            .map(view);
          return paginate(items, query, 100, 5_000_000);
        }
        if (method === 'POST') {
          const { type, name, content } = validateRecord(obj);
          checkDnsConflict(type, name, content);
          const ts = now();
          const r: FakeDnsRecord = {
            id: randomBytes(16).toString('hex'),
            zone_id: zoneId,
            zone_name: zoneName,
            type,
            name,
            content,
            proxied: obj.proxied === true,
            proxiable: ['A', 'AAAA', 'CNAME'].includes(type),
            ttl: typeof obj.ttl === 'number' ? obj.ttl : 1,
            comment: typeof obj.comment === 'string' ? obj.comment : null,
            created_on: ts,
            modified_on: ts,
          };
          records.set(r.id, r);
          return ok(view(r));
        }
        throw notAllowed();
      }

      const r = records.get(id);
      if (!r) throw new CfError(404, 81044, 'Record does not exist.');
      if (method === 'GET') return ok(view(r));
      if (method === 'DELETE') {
        records.delete(id);
        return ok({ id });
      }
      if (method === 'PATCH' || method === 'PUT') {
        const merged =
          method === 'PUT'
            ? obj
            : { type: r.type, name: r.name, content: r.content, proxied: r.proxied, ttl: r.ttl, ...obj };
        const { type, name, content } = validateRecord(merged);
        checkDnsConflict(type, name, content, id);
        Object.assign(r, {
          type,
          name,
          content,
          proxied: merged.proxied === true,
          proxiable: ['A', 'AAAA', 'CNAME'].includes(type),
          ttl: typeof merged.ttl === 'number' ? merged.ttl : 1,
          modified_on: now(),
        });
        return ok(view(r));
      }
      throw notAllowed();
    }

    throw new CfError(404, 7003, `Could not route to ${path}, perhaps your object identifier is invalid?`);
  }

  function send(res: ServerResponse, status: number, env: Envelope) {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(env));
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse) {
    const method = (req.method ?? 'GET').toUpperCase();
    const u = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    let malformed = false;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
        malformed = true;
      }
    }
    const entry: RecordedRequest = {
      method,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      body,
      status: 0,
    };
    requests.push(entry);

    const fault = faults.find(
      (f) =>
        f.remaining > 0 &&
        (f.pathIncludes === undefined || u.pathname.includes(f.pathIncludes)) &&
        (f.method === undefined || f.method.toUpperCase() === method),
    );
    if (fault?.stallMs !== undefined) {
      fault.remaining -= 1;
      faults = faults.filter((f) => f.remaining > 0);
      await new Promise((r) => setTimeout(r, fault.stallMs));
      if (req.socket.destroyed) return; // the client gave up waiting
    } else if (fault) {
      fault.remaining -= 1;
      faults = faults.filter((f) => f.remaining > 0);
      if (fault.network) {
        req.socket.destroy();
        return;
      }
      entry.status = fault.status;
      const code = fault.status === 429 ? 971 : 10001;
      const message =
        fault.status === 429
          ? 'Please wait and consider throttling your request speed'
          : 'Internal server error (injected fault)';
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (fault.status === 429) headers['Retry-After'] = '1';
      res.writeHead(fault.status, headers);
      res.end(JSON.stringify({ success: false, errors: [{ code, message }], messages: [], result: null }));
      return;
    }

    const fail = (e: CfError) => {
      entry.status = e.status;
      send(res, e.status, {
        success: false,
        errors: [{ code: e.code, message: e.message }],
        messages: [],
        result: null,
      });
    };
    if (req.headers.authorization !== `Bearer ${apiToken}`)
      return fail(new CfError(401, 10000, 'Authentication error'));
    if (malformed) return fail(new CfError(400, 6007, 'Malformed JSON in request body'));
    try {
      const env = handle(method, u.pathname, u.searchParams, body);
      entry.status = 200;
      send(res, 200, env);
    } catch (e) {
      if (e instanceof CfError) return fail(e);
      entry.status = 500;
      send(res, 500, { success: false, errors: [{ code: 10002, message: String(e) }], messages: [], result: null });
    }
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((e: unknown) => {
      if (!res.headersSent)
        send(res, 500, { success: false, errors: [{ code: 10002, message: String(e) }], messages: [], result: null });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}${BASE}`,
    accountId,
    zoneId,
    zoneName,
    apiToken,
    requests,
    tunnels: ({ includeDeleted = false } = {}) =>
      [...tunnels.values()].filter((t) => includeDeleted || t.deleted_at === null).map((t) => structuredClone(t)),
    dnsRecords: () => [...records.values()].map((r) => structuredClone(r)),
    failNext(n, o = {}) {
      if (n > 0) faults.push({ ...o, status: o.status ?? 500, remaining: n });
    },
    clearFaults() {
      faults = [];
    },
    addConnection(tunnelId, count = 1) {
      const t = tunnels.get(tunnelId);
      if (!t || t.deleted_at) throw new Error(`fake cloudflare: no live tunnel ${tunnelId}`);
      for (let i = 0; i < count; i++) {
        const cid = randomUUID();
        t.connections.push({
          id: cid,
          uuid: cid,
          colo_name: 'fra01',
          is_pending_reconnect: false,
          origin_ip: '203.0.113.10',
          opened_at: now(),
          client_id: randomUUID(),
          client_version: '2025.1.0',
        });
      }
      t.conns_active_at ??= now();
    },
    seedTunnel(s) {
      const tid = s.id ?? randomUUID();
      const secret = s.tunnel_secret ?? randomBytes(32).toString('base64');
      const t: FakeTunnel = {
        id: tid,
        name: s.name,
        created_at: s.created_at ?? now(),
        deleted_at: s.deleted_at ?? null,
        connections: s.connections ?? [],
        conns_active_at: s.conns_active_at ?? null,
        conns_inactive_at: s.conns_inactive_at ?? null,
        config_src: s.config_src ?? 'cloudflare',
        tunnel_secret: secret,
        token: s.token ?? tokenFor(tid, secret),
        config: s.config ?? null,
        config_version: s.config_version ?? 0,
      };
      tunnels.set(tid, t);
      return structuredClone(t);
    },
    seedDnsRecord(s) {
      const ts = now();
      const type = s.type ?? 'CNAME';
      const r: FakeDnsRecord = {
        id: s.id ?? randomBytes(16).toString('hex'),
        zone_id: zoneId,
        zone_name: zoneName,
        type,
        name: fqdn(s.name),
        content: s.content,
        proxied: s.proxied ?? false,
        proxiable: ['A', 'AAAA', 'CNAME'].includes(type),
        ttl: s.ttl ?? 1,
        comment: s.comment ?? null,
        created_on: s.created_on ?? ts,
        modified_on: s.modified_on ?? ts,
      };
      records.set(r.id, r);
      return structuredClone(r);
    },
    reset() {
      tunnels = new Map();
      records = new Map();
      faults = [];
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
