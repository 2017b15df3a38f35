/**
 * The agent's client of the control plane (agent.md §5): challenge, register, heartbeat and the deployment
 * callbacks. Every failure is a CpError whose `kind` callers branch on (never its text).
 */
import { z } from 'zod';
import { errorText } from './log';

export type CpErrorKind = 'unreachable' | 'timeout' | 'http' | 'invalid';

export class CpError extends Error {
  override readonly name = 'CpError';
  constructor(
    readonly kind: CpErrorKind,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

export const RegisterResponse = z.object({
  agent_id: z.string().min(1),
  agent_api_secret: z.string().min(1),
  tunnel_token: z.string().nullable().optional(),
  hostname: z.string().nullable().optional(),
  poll_interval: z.number().optional(),
});
export type RegisterResponse = z.infer<typeof RegisterResponse>;

const Challenge = z.object({ nonce: z.string().min(1), ttl_seconds: z.number().optional() });

export interface CpClient {
  challenge(vmName: string): Promise<{ nonce: string }>;
  register(body: Record<string, unknown>, bootstrapToken?: string): Promise<RegisterResponse>;
  heartbeat(agentId: string, secret: string, body: Record<string, unknown>): Promise<void>;
  deployed(agentId: string, secret: string, body: Record<string, unknown>): Promise<void>;
  status(agentId: string, secret: string, body: Record<string, unknown>): Promise<void>;
}

export function createCpClient(opts: {
  baseUrl: string;
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}): CpClient {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;

  async function call(method: 'GET' | 'POST', path: string, body?: unknown, bearer?: string): Promise<unknown> {
    const url = base + path;
    const what = `control plane ${method} ${url}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      if ((err as Error).name === 'TimeoutError')
        throw new CpError('timeout', `${what} timed out after ${timeoutMs} ms`);
      throw new CpError('unreachable', `${what} failed: ${errorText(err)}`);
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const detail = (parsed as { detail?: unknown } | undefined)?.detail;
      throw new CpError(
        'http',
        `${what} → HTTP ${res.status}: ${typeof detail === 'string' ? detail : text.slice(0, 200)}`,
        res.status,
      );
    }
    return parsed;
  }

  const agentPath = (id: string, what: string) => `/api/v1/agents/${encodeURIComponent(id)}/${what}`;
  return {
    async challenge(vmName) {
      const r = Challenge.safeParse(
        await call('GET', `/api/v1/agents/challenge?vm_name=${encodeURIComponent(vmName)}`),
      );
      if (!r.success) throw new CpError('invalid', 'control plane challenge answer has no nonce');
      return { nonce: r.data.nonce };
    },
    async register(body, bootstrapToken) {
      const r = RegisterResponse.safeParse(
        await call(
          'POST',
          '/api/v1/agents/register',
          bootstrapToken ? { ...body, bootstrap_token: bootstrapToken } : body,
        ),
      );
      if (!r.success) {
        throw new CpError('invalid', `control plane registration answer lacks ${r.error.issues[0]?.path.join('.')}`);
      }
      return r.data;
    },
    async heartbeat(agentId, secret, body) {
      await call('POST', agentPath(agentId, 'heartbeat'), body, secret);
    },
    async deployed(agentId, secret, body) {
      await call('POST', agentPath(agentId, 'deployed'), body, secret);
    },
    async status(agentId, secret, body) {
      await call('POST', agentPath(agentId, 'status'), body, secret);
    },
  };
}
