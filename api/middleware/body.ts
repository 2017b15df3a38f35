/**
 * Reads the request body once, with a size limit, keeping the raw bytes (Stripe webhook
 * signatures are computed over them) and the parsed JSON.
 */
import type { Middleware } from 'koa';
import { HttpError } from '../http/errors';

declare module 'koa' {
  interface Request {
    body?: unknown;
    rawBody?: Buffer;
  }
}

export function bodyMiddleware(limitBytes: number): Middleware {
  return async (ctx, next) => {
    if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(ctx.method)) return next();
    // The service proxy streams bodies through untouched (api/routes/proxy.ts).
    if (ctx.path.startsWith('/proxy/')) return next();
    const declared = Number(ctx.get('content-length') || '0');
    if (declared > limitBytes) throw new HttpError(413, `Request body exceeds ${limitBytes} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req) {
      size += (chunk as Buffer).length;
      if (size > limitBytes) throw new HttpError(413, `Request body exceeds ${limitBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
    const raw = Buffer.concat(chunks);
    ctx.request.rawBody = raw;
    const type = ctx.get('content-type');
    if (raw.length > 0 && (type === '' || /json/i.test(type))) {
      try {
        ctx.request.body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        throw new HttpError(400, `Malformed JSON body: ${(err as Error).message}`);
      }
    }
    return next();
  };
}
