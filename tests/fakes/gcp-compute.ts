/**
 * A local fake of the GCP Compute REST API (v1) and Google's OAuth token endpoint, in the wire format
 * `@google-cloud/compute` speaks over its REST transport, so the production client is what gets tested.
 *
 *   const gcp = await startFakeGcpCompute();
 *   settings: gcp.api_endpoint = gcp.url, gcp.oauth_token_url = gcp.tokenUrl, gcp.project_id = gcp.project,
 *             gcp.service_account_key = gcp.serviceAccountKey
 *
 * Modelled behaviours:
 * - Token exchange: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`; the assertion must be an RS256 JWT
 *   signed by the service account's key with `iss` = its client_email (else 400 invalid_grant). Compute calls
 *   without a token it issued → 401.
 * - `instances.insert` is a long-running zone operation (`RUNNING`, `DONE` after `operationPolls` wait/get calls).
 *   A repeated insert with the same `requestId` returns the same operation and creates nothing (inserts are counted
 *   per requestId); another requestId for an existing name → 409 alreadyExists.
 * - `holdInserts()` keeps insert responses pending until `releaseInserts()` (a worker can be killed meanwhile).
 * - `instances.delete` / `get` → 404 notFound for unknown names; `aggregated/instances` pages by `maxResults`.
 */
import { createPublicKey, createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeInstance {
  name: string;
  zone: string;
  machineType: string;
  status: string;
  labels: Record<string, string>;
  creationTimestamp: string;
  /** The whole Instance resource as inserted (metadata, confidentialInstanceConfig, …). */
  resource: Record<string, any>;
}

interface Operation {
  name: string;
  zone: string;
  operationType: string;
  targetLink: string;
  polls: number;
  status: 'RUNNING' | 'DONE';
  error?: { errors: { code: string; message: string }[] };
  apply: () => void;
}

export interface FakeGcpCompute {
  url: string;
  tokenUrl: string;
  project: string;
  clientEmail: string;
  /** Service-account key JSON, as GCP_SERVICE_ACCOUNT_KEY. */
  serviceAccountKey: string;
  instances: Map<string, FakeInstance>;
  /** insert calls received per requestId. */
  insertsByRequestId: Map<string, number>;
  tokensIssued: number;
  requests: { method: string; path: string }[];
  /** Operations report DONE after this many polls (default 1). */
  operationPolls: number;
  holdInserts(): void;
  releaseInserts(): void;
  /** Resolves once `n` insert calls arrived in total. */
  waitForInserts(n: number): Promise<void>;
  /** Add an instance directly (a VM made by an earlier run, or an orphan). */
  seedInstance(i: Partial<FakeInstance> & { name: string; zone: string }): void;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const gerror = (res: ServerResponse, status: number, reason: string, message: string) =>
  json(res, status, { error: { code: status, message, errors: [{ message, domain: 'global', reason }] } });

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => resolve(b));
  });

export async function startFakeGcpCompute(opts: { project?: string } = {}): Promise<FakeGcpCompute> {
  const project = opts.project ?? 'ee-test-project';
  const clientEmail = `easyenclave@${project}.iam.gserviceaccount.com`;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const tokens = new Set<string>();
  const instances = new Map<string, FakeInstance>();
  const operations = new Map<string, Operation>();
  const byRequestId = new Map<string, string>();
  const insertsByRequestId = new Map<string, number>();
  const requests: { method: string; path: string }[] = [];
  let held = false;
  let releases: (() => void)[] = [];
  let insertCalls = 0;
  let insertWaiters: { n: number; resolve: () => void }[] = [];

  const opView = (op: Operation) => ({
    kind: 'compute#operation',
    id: String(Math.abs(hash(op.name))),
    name: op.name,
    zone: `https://compute.googleapis.com/compute/v1/projects/${project}/zones/${op.zone}`,
    operationType: op.operationType,
    targetLink: op.targetLink,
    status: op.status,
    progress: op.status === 'DONE' ? 100 : 50,
    ...(op.error ? { error: op.error } : {}),
  });
  const poll = (op: Operation) => {
    op.polls++;
    if (op.status !== 'DONE' && op.polls >= fake.operationPolls) {
      op.status = 'DONE';
      op.apply();
    }
  };
  const newOp = (zone: string, type: string, target: string, apply: () => void): Operation => {
    const op: Operation = {
      name: `operation-${Date.now()}-${randomBytes(6).toString('hex')}`,
      zone,
      operationType: type,
      targetLink: target,
      polls: 0,
      status: 'RUNNING',
      apply,
    };
    operations.set(op.name, op);
    return op;
  };

  const server = createServer(async (req, res) => {
    const u = new URL(req.url ?? '/', 'http://fake');
    const body = await readBody(req);
    requests.push({ method: req.method ?? '', path: u.pathname });
    if (u.pathname === '/token' && req.method === 'POST') {
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
        return json(res, 400, { error: 'unsupported_grant_type' });
      }
      const [h, p, sig] = (form.get('assertion') ?? '').split('.');
      const ok =
        !!h &&
        !!p &&
        !!sig &&
        createVerify('RSA-SHA256')
          .update(`${h}.${p}`)
          .verify(createPublicKey(publicKey), Buffer.from(sig, 'base64url'));
      const claims = ok ? (JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>) : {};
      if (!ok || claims.iss !== clientEmail)
        return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT' });
      const token = `ya29.fake-${randomBytes(12).toString('hex')}`;
      tokens.add(token);
      fake.tokensIssued++;
      return json(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
    }
    const auth = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!tokens.has(auth)) return gerror(res, 401, 'authError', 'Request had invalid authentication credentials.');
    const base = `/compute/v1/projects/${project}`;
    if (!u.pathname.startsWith(base)) return gerror(res, 404, 'notFound', `The resource '${u.pathname}' was not found`);
    const rest = u.pathname.slice(base.length);
    let m: RegExpMatchArray | null;

    if ((m = rest.match(/^\/zones\/([^/]+)\/instances$/)) && req.method === 'POST') {
      const zone = m[1]!;
      const requestId = u.searchParams.get('requestId') ?? '';
      insertsByRequestId.set(requestId, (insertsByRequestId.get(requestId) ?? 0) + 1);
      insertCalls++;
      insertWaiters = insertWaiters.filter((w) => (insertCalls >= w.n ? (w.resolve(), false) : true));
      if (held) await new Promise<void>((r) => releases.push(r));
      const existingOp = requestId ? byRequestId.get(requestId) : undefined;
      if (existingOp) return json(res, 200, opView(operations.get(existingOp)!));
      const resource = JSON.parse(body || '{}') as Record<string, any>;
      const name = String(resource.name ?? '');
      if (instances.has(name)) return gerror(res, 409, 'alreadyExists', `The resource '${name}' already exists`);
      const target = `https://compute.googleapis.com${base}/zones/${zone}/instances/${name}`;
      const op = newOp(zone, 'insert', target, () => {
        instances.set(name, {
          name,
          zone,
          machineType: String(resource.machineType ?? ''),
          status: 'RUNNING',
          labels: (resource.labels ?? {}) as Record<string, string>,
          creationTimestamp: new Date().toISOString(),
          resource,
        });
      });
      if (requestId) byRequestId.set(requestId, op.name);
      return json(res, 200, opView(op));
    }
    if ((m = rest.match(/^\/zones\/([^/]+)\/instances\/([^/]+)$/))) {
      const [, zone, name] = m as unknown as [string, string, string];
      const inst = instances.get(name);
      if (req.method === 'GET') {
        if (!inst || inst.zone !== zone) return gerror(res, 404, 'notFound', `The resource '${name}' was not found`);
        return json(res, 200, { ...inst.resource, status: inst.status, zone: `${base}/zones/${zone}` });
      }
      if (req.method === 'DELETE') {
        const requestId = u.searchParams.get('requestId') ?? '';
        const existingOp = requestId ? byRequestId.get(requestId) : undefined;
        if (existingOp) return json(res, 200, opView(operations.get(existingOp)!));
        if (!inst || inst.zone !== zone) return gerror(res, 404, 'notFound', `The resource '${name}' was not found`);
        const op = newOp(zone, 'delete', `${base}/zones/${zone}/instances/${name}`, () => instances.delete(name));
        if (requestId) byRequestId.set(requestId, op.name);
        return json(res, 200, opView(op));
      }
    }
    if ((m = rest.match(/^\/zones\/([^/]+)\/operations\/([^/]+?)(\/wait)?$/))) {
      const op = operations.get(m[2]!);
      if (!op) return gerror(res, 404, 'notFound', `The resource '${m[2]}' was not found`);
      poll(op);
      return json(res, 200, opView(op));
    }
    if (rest === '/aggregated/instances' && req.method === 'GET') {
      const max = Number(u.searchParams.get('maxResults') ?? 500);
      const start = Number(u.searchParams.get('pageToken') ?? 0);
      const all = [...instances.values()].sort((a, b) => a.name.localeCompare(b.name));
      const page = all.slice(start, start + max);
      const items: Record<string, { instances?: unknown[] }> = {};
      for (const i of page) {
        const key = `zones/${i.zone}`;
        (items[key] ??= { instances: [] }).instances!.push({
          ...i.resource,
          name: i.name,
          status: i.status,
          labels: i.labels,
          creationTimestamp: i.creationTimestamp,
          zone: `https://compute.googleapis.com${base}/zones/${i.zone}`,
        });
      }
      const next = start + max < all.length ? String(start + max) : undefined;
      return json(res, 200, {
        kind: 'compute#instanceAggregatedList',
        items,
        ...(next ? { nextPageToken: next } : {}),
      });
    }
    return gerror(res, 404, 'notFound', `No fake route for ${req.method} ${u.pathname}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fake: FakeGcpCompute = {
    url,
    tokenUrl: `${url}/token`,
    project,
    clientEmail,
    serviceAccountKey: JSON.stringify({
      type: 'service_account',
      project_id: project,
      client_email: clientEmail,
      private_key: privateKey,
    }),
    instances,
    insertsByRequestId,
    tokensIssued: 0,
    requests,
    operationPolls: 1,
    holdInserts: () => {
      held = true;
    },
    releaseInserts: () => {
      held = false;
      const r = releases;
      releases = [];
      for (const f of r) f();
    },
    waitForInserts: (n) =>
      insertCalls >= n ? Promise.resolve() : new Promise<void>((resolve) => insertWaiters.push({ n, resolve })),
    seedInstance: (i) => {
      instances.set(i.name, {
        machineType: 'zones/x/machineTypes/c3-standard-4',
        status: 'RUNNING',
        labels: {},
        creationTimestamp: new Date(Date.now() - 86_400_000).toISOString(),
        resource: { name: i.name },
        ...i,
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        fake.releaseInserts();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}
