import type { Context } from 'koa';
import { unauthorized } from './errors';

/** The token of `Authorization: Bearer <token>` (exactly two parts, scheme case-insensitive), or null. */
export function parseBearer(header: string): string | null {
  const parts = header.trim().split(/\s+/);
  return parts.length === 2 && parts[0]!.toLowerCase() === 'bearer' ? parts[1]! : null;
}

/** Like parseBearer, but answers v1's 401s when the header is missing or malformed. */
export function bearerToken(ctx: Context, kind = 'token'): string {
  const header = ctx.get('authorization');
  if (!header) throw unauthorized('Missing Authorization header');
  const token = parseBearer(header);
  if (token === null) throw unauthorized(`Invalid Authorization header format. Expected: Bearer <${kind}>`);
  return token;
}
