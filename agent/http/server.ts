/**
 * The agent's HTTP edge (agent.md §8, fixed): the control API under /api/*, authenticated with the control secret
 * (constant-time), deploy/undeploy also through X-CP-Attestation per mode; everything else — any method, HEAD and
 * OPTIONS included, `/` included — is proxied to the workload. There is no admin UI and no password.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AttestationError, healthReportData } from '../core/attestation';
import type { AgentRuntime } from '../core/agent-mode';
import { DeployPayload } from '../core/deploy-payload';
import { errorText } from '../core/log';
import { systemStats } from '../core/stats';
import { DeployConflictError } from '../core/workload';

const MAX_BODY = 16 * 1024 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function secretMatches(presented: string | undefined, secret: string): boolean {
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function authorized(req: IncomingMessage, secret: string): boolean {
  const x = req.headers['x-agent-secret'];
  if (typeof x === 'string' && secretMatches(x, secret)) return true;
  const auth = req.headers.authorization;
  return typeof auth === 'string' && auth.startsWith('Bearer ') && secretMatches(auth.slice(7).trim(), secret);
}

function proxy(rt: AgentRuntime, req: IncomingMessage, res: ServerResponse): void {
  const headers = { ...req.headers };
  delete headers.connection;
  const up = httpRequest(
    { host: '127.0.0.1', port: rt.cfg.workload_port, method: req.method, path: req.url, headers, timeout: 30_000 },
    (ur) => {
      const h = { ...ur.headers };
      delete h.connection;
      delete h['transfer-encoding'];
      res.writeHead(ur.statusCode ?? 502, h);
      ur.pipe(res);
    },
  );
  up.on('timeout', () => up.destroy(new Error('workload timed out')));
  up.on('error', (err) => {
    if (res.headersSent) return res.destroy();
    const refused = (err as { code?: string }).code === 'ECONNREFUSED';
    send(res, 502, { error: refused ? 'Workload not running' : `Proxy error: ${errorText(err)}` });
  });
  req.pipe(up);
}

export async function startAgentServer(rt: AgentRuntime): Promise<{ url: string; close(): Promise<void> }> {
  const { log } = rt;

  async function health(url: URL) {
    const s = rt.state();
    const w = rt.workload.view();
    const body: Record<string, unknown> = {
      status: w.status,
      agent_id: s.agent_id,
      vm_name: rt.vmName,
      deployment_id: w.deploymentId,
      deployed_app: w.appName,
      datacenter: rt.datacenter,
      control_plane: rt.cfg.control_plane_url,
      attestation_provider: rt.attester.provider,
      timestamp: new Date().toISOString(),
      containers: await rt.workload.containers(),
    };
    if (w.error) body.error = w.error;
    if ((url.searchParams.get('attest') ?? '').toLowerCase() === 'true') {
      const nonce = url.searchParams.get('nonce');
      if (!nonce) {
        body.attestation_error = 'attest=true needs nonce=<hex>: the quote is bound to the caller nonce';
      } else {
        try {
          body.attestation = await rt.attester.attest(healthReportData(nonce));
          body.attestation_report_data = 'sha256("easyenclave/agent-health/v1" || nonce) || 32 zero bytes';
        } catch (err) {
          body.attestation_error = err instanceof AttestationError ? `${err.kind}: ${err.message}` : errorText(err);
        }
      }
    }
    return body;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const route = `${req.method} ${url.pathname}`;
    const secret = rt.state().control_secret;
    const guard = () => {
      if (authorized(req, secret)) return true;
      send(res, 401, { error: 'Unauthorized' });
      return false;
    };
    const cpGuard = () => {
      const reason = rt.cpAttestation.verify(req.headers['x-cp-attestation'] as string | undefined);
      if (reason === null) return true;
      send(res, 401, { error: reason });
      return false;
    };
    switch (route) {
      case 'GET /api/health':
      case 'GET /api/status':
        return send(res, 200, await health(route === 'GET /api/health' ? url : new URL('http://agent/')));
      case 'GET /api/logs': {
        if (!guard()) return;
        if (url.searchParams.get('source') === 'buffer') {
          const logs = rt.workload.recentOutput().map((l) => ({ container: 'workload', line: `${l.time} ${l.line}` }));
          return send(res, 200, { logs, count: logs.length });
        }
        const since = url.searchParams.get('since') ?? '5m';
        if (!/^[0-9A-Za-z:.+-]{1,40}$/.test(since)) return send(res, 400, { error: 'invalid since' });
        const logs = await rt.workload.logs({ since, container: url.searchParams.get('container') ?? undefined });
        const lines = Number(url.searchParams.get('lines'));
        const kept = Number.isInteger(lines) && lines > 0 ? logs.slice(-lines) : logs;
        return send(res, 200, { logs: kept, count: logs.length });
      }
      case 'GET /api/stats':
        if (!guard()) return;
        return send(res, 200, await systemStats(rt.cfg.workload_dir));
      case 'GET /api/control/challenge':
        if (!guard()) return;
        return send(res, 200, rt.cpAttestation.issueChallenge());
      case 'POST /api/deploy': {
        if (!guard() || !cpGuard()) return;
        let json: unknown;
        try {
          json = JSON.parse(await readBody(req));
        } catch (err) {
          return send(res, 400, { error: `Invalid JSON: ${errorText(err)}` });
        }
        const p = DeployPayload.safeParse(json);
        if (!p.success) {
          const i = p.error.issues[0]!;
          return send(res, 400, { error: `invalid deploy payload: ${i.path.join('.') || '(body)'}: ${i.message}` });
        }
        try {
          rt.workload.deploy(p.data);
        } catch (err) {
          if (err instanceof DeployConflictError) {
            return send(res, 409, { error: err.message, deployment_id: err.currentDeploymentId });
          }
          throw err;
        }
        log.info(`deployment ${p.data.deployment_id} accepted`);
        return send(res, 202, { status: 'accepted', deployment_id: p.data.deployment_id });
      }
      case 'POST /api/undeploy':
        if (!guard() || !cpGuard()) return;
        await readBody(req);
        try {
          await rt.workload.undeploy();
        } catch (err) {
          return send(res, 500, { error: log.mask(errorText(err)) });
        }
        log.info('workload undeployed');
        return send(res, 200, { status: 'undeployed' });
      default:
        if (url.pathname.startsWith('/api/') && ['/api/deploy', '/api/undeploy'].includes(url.pathname)) {
          return send(res, 405, { error: 'Method not allowed' });
        }
        return proxy(rt, req, res);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error(`HTTP ${req.method} ${req.url}: ${errorText(err)}`);
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(rt.cfg.admin_port, rt.cfg.listen_host, () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
