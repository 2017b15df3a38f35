/**
 * Console relay token `eea1` (spec/attestation.md §9.4): an HMAC-SHA256 over the base64url payload keyed with the
 * agent's control secret, which the agent verifies locally. Pure apart from randomness for the `jti`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** SEED: console tokens live 900–3600 s (v1 accepted 60). */
export const CONSOLE_TTL_MIN = 900;
export const CONSOLE_TTL_MAX = 3600;

export interface ConsoleTokenInput {
  agentId: string;
  secret: string;
  ttlSeconds: number;
  nowMs: number;
  authMethod?: string | null;
  githubLogin?: string | null;
  githubOrgs?: string[] | null;
  isAdmin: boolean;
}

/** JSON with keys sorted at every level, compact separators and non-ASCII escaped (Python's json.dumps). */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${asciiJson(k)}:${sortedJson(o[k])}`)
      .join(',')}}`;
  }
  return typeof value === 'string' ? asciiJson(value) : JSON.stringify(value);
}

const asciiJson = (s: string) =>
  JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export function mintConsoleToken(input: ConsoleTokenInput): { token: string; expiresAtSec: number } {
  const ttl = Math.min(CONSOLE_TTL_MAX, Math.max(CONSOLE_TTL_MIN, Math.floor(input.ttlSeconds)));
  const iat = Math.floor(input.nowMs / 1000);
  const payload = {
    v: 1,
    sub: 'agent-admin',
    agent_id: input.agentId,
    iat,
    exp: iat + ttl,
    jti: randomBytes(12).toString('base64url'),
    auth_method: input.authMethod || 'unknown',
    github_login: input.githubLogin || '',
    github_orgs: input.githubOrgs ?? [],
    is_admin: input.isAdmin,
  };
  const payloadB64 = Buffer.from(sortedJson(payload), 'utf8').toString('base64url');
  const sig = createHmac('sha256', Buffer.from(input.secret, 'utf8')).update(payloadB64, 'ascii').digest('base64url');
  return { token: `eea1.${payloadB64}.${sig}`, expiresAtSec: iat + ttl };
}

/** What a v1 agent checks (used by tests and the fake agent). */
export function verifyConsoleToken(token: string, secret: string, nowMs: number): Record<string, unknown> | null {
  const [v, payloadB64, sig] = token.split('.');
  if (v !== 'eea1' || !payloadB64 || !sig) return null;
  const want = createHmac('sha256', Buffer.from(secret, 'utf8')).update(payloadB64, 'ascii').digest('base64url');
  const a = Buffer.from(want, 'ascii');
  const b = Buffer.from(sig, 'ascii');
  if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
  const p = JSON.parse(Buffer.from(payloadB64, 'base64url').toString('utf8')) as Record<string, unknown>;
  const now = Math.floor(nowMs / 1000);
  if (p.sub !== 'agent-admin' || (p.exp as number) <= now || (p.iat as number) > now + 300) return null;
  return p;
}
