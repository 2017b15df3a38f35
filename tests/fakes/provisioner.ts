/**
 * A local fake of an external provisioner (background.md §10) that checks every request the way docs/provisioner.md
 * tells a receiver to: `Authorization: Bearer <token>`, then `X-EasyEnclave-Timestamp` within 300 s of its clock and
 * `X-EasyEnclave-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` compared in constant time.
 * The check is written here from the documented recipe (not imported from core), so it tests the contract.
 *
 *   POST /dispatch   one launch order → recorded in `dispatches` (deduplicated by Idempotency-Key)
 *   GET  /inventory  `{resources: [...]}` from `resources`
 *   POST /cleanup    removes `resource_ids` from `resources` unless dry_run; answers `{requested_count, deleted_count}`
 * A failed check answers 401 `{detail}` and is recorded in `refused`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeProvisionerOptions {
  token?: string;
  secret?: string;
}

export interface FakeDispatch {
  body: Record<string, any>;
  idempotencyKey: string | undefined;
}

export interface FakeProvisioner {
  url: string;
  dispatchUrl: string;
  inventoryUrl: string;
  cleanupUrl: string;
  token: string;
  secret: string;
  dispatches: FakeDispatch[];
  /** Calls received per Idempotency-Key (a retried dispatch shows 2). */
  dispatchCalls: Map<string, number>;
  cleanups: Record<string, any>[];
  refused: { path: string; reason: string }[];
  /** The inventory the fake serves (mutable). */
  resources: Record<string, any>[];
  close(): Promise<void>;
}

const TOLERANCE_SECONDS = 300;

function verify(req: IncomingMessage, raw: string, token: string, secret: string): string | null {
  if (req.headers.authorization !== `Bearer ${token}`) return 'bad bearer token';
  const ts = String(req.headers['x-easyenclave-timestamp'] ?? '');
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE_SECONDS) return 'stale timestamp';
  const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${ts}.${raw}`).digest('hex')}`);
  const got = Buffer.from(String(req.headers['x-easyenclave-signature'] ?? ''));
  if (want.length !== got.length || !timingSafeEqual(want, got)) return 'bad signature';
  return null;
}

export async function startFakeProvisioner(opts: FakeProvisionerOptions = {}): Promise<FakeProvisioner> {
  const token = opts.token ?? 'prov-token-1';
  const secret = opts.secret ?? 'prov-signing-secret';
  const dispatches: FakeDispatch[] = [];
  const dispatchCalls = new Map<string, number>();
  const cleanups: Record<string, any>[] = [];
  const refused: { path: string; reason: string }[] = [];
  const resources: Record<string, any>[] = [];

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      const why = verify(req, raw, token, secret);
      if (why) {
        refused.push({ path, reason: why });
        return send(res, 401, { detail: why });
      }
      if (req.method === 'POST' && path === '/dispatch') {
        const key = req.headers['idempotency-key'] as string | undefined;
        const n = (dispatchCalls.get(key ?? '') ?? 0) + 1;
        dispatchCalls.set(key ?? '', n);
        if (n === 1) dispatches.push({ body: JSON.parse(raw), idempotencyKey: key });
        return send(res, 202, { accepted: true });
      }
      if (req.method === 'GET' && path === '/inventory') return send(res, 200, { resources });
      if (req.method === 'POST' && path === '/cleanup') {
        const body = JSON.parse(raw) as { dry_run: boolean; resource_ids: string[] };
        cleanups.push(body);
        const ids = new Set(body.resource_ids);
        const hit = resources.filter((r) => ids.has(r.resource_id));
        if (!body.dry_run) {
          for (const r of hit) resources.splice(resources.indexOf(r), 1);
        }
        return send(res, 200, { requested_count: hit.length, deleted_count: body.dry_run ? 0 : hit.length });
      }
      send(res, 404, { detail: 'not found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    dispatchUrl: `${url}/dispatch`,
    inventoryUrl: `${url}/inventory`,
    cleanupUrl: `${url}/cleanup`,
    token,
    secret,
    dispatches,
    dispatchCalls,
    cleanups,
    refused,
    resources,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
