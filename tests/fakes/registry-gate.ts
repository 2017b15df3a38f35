/**
 * A local HTTP front for the real test registry (tests/helpers/oci-registry.ts) that adds what the plain
 * docker-registry does not do by itself, speaking the Distribution wire format:
 * - token auth: with `requireToken` set, `/v2/...` answers 401 with the Docker token spec challenge
 *   (`WWW-Authenticate: Bearer realm="<url>/token",service="gate",scope="repository:<name>:pull"`) unless the
 *   request carries `Authorization: Bearer <token>`; `GET /token` hands that token out (anonymous pull);
 * - faults: `failNext(n, status)` answers the next n manifest requests with that status.
 * Everything else is forwarded to the registry as is.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RegistryGate {
  /** `127.0.0.1:<port>` — use as the registry host in image references. */
  host: string;
  url: string;
  requireToken: string | null;
  /** Token requests seen, with their query. */
  readonly tokenRequests: URLSearchParams[];
  /** Manifest requests seen (method + path). */
  readonly manifestRequests: string[];
  /** Answer the next n manifest requests with `status`; n = 0 clears pending faults. */
  failNext(n: number, status?: number): void;
  /** Send this Docker-Content-Digest on manifest answers instead of the registry's (a lying registry). */
  lieDigest: string | null;
  /** Hand out this token from /token instead of the one required (a token service that does not help). */
  tokenOverride: string | null;
  close(): Promise<void>;
}

export async function startRegistryGate(upstreamHost: string): Promise<RegistryGate> {
  let faults: { remaining: number; status: number }[] = [];
  const tokenRequests: URLSearchParams[] = [];
  const manifestRequests: string[] = [];
  const gate = {
    requireToken: null as string | null,
    lieDigest: null as string | null,
    tokenOverride: null as string | null,
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://gate');
    if (url.pathname === '/token') {
      tokenRequests.push(url.searchParams);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: gate.tokenOverride ?? gate.requireToken, expires_in: 300 }));
      return;
    }
    const manifest = /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(url.pathname);
    if (manifest) manifestRequests.push(`${req.method} ${url.pathname}`);
    if (
      gate.requireToken &&
      url.pathname.startsWith('/v2/') &&
      req.headers.authorization !== `Bearer ${gate.requireToken}`
    ) {
      const scope = manifest ? `repository:${manifest[1]}:pull` : '';
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="http://${host}/token",service="gate"${scope ? `,scope="${scope}"` : ''}`,
      });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    const fault = manifest ? faults[0] : undefined;
    if (fault) {
      fault.remaining -= 1;
      if (fault.remaining <= 0) faults.shift();
      res.writeHead(fault.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${fault.status}` }] }));
      return;
    }
    const up = request(
      {
        host: upstreamHost.split(':')[0],
        port: Number(upstreamHost.split(':')[1]),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstreamHost },
      },
      (upRes) => {
        const headers = { ...upRes.headers };
        if (manifest && gate.lieDigest) headers['docker-content-digest'] = gate.lieDigest;
        res.writeHead(upRes.statusCode ?? 502, headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    get requireToken() {
      return gate.requireToken;
    },
    set requireToken(v: string | null) {
      gate.requireToken = v;
    },
    get lieDigest() {
      return gate.lieDigest;
    },
    set lieDigest(v: string | null) {
      gate.lieDigest = v;
    },
    get tokenOverride() {
      return gate.tokenOverride;
    },
    set tokenOverride(v: string | null) {
      gate.tokenOverride = v;
    },
    tokenRequests,
    manifestRequests,
    failNext(n, status = 500) {
      if (n <= 0) faults = [];
      else faults.push({ remaining: n, status });
    },
    async close() {
      faults = [];
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
