/**
 * Conditional GETs for hot reads. The ETag is derived from the rendered body (a SHA-1 of the JSON the client would
 * receive), so it changes exactly when the answer does — whoever asks (views that differ per caller, such as a
 * deployment's compose shown only to its owner, get different tags) and whichever replica answers (no state kept).
 * Weak (`W/`), as the JSON is equal in meaning, not promised byte-for-byte across versions of the server.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'koa';

export const NOT_MODIFIED = 'Not modified: the If-None-Match header names the current ETag (no body)';

export function weakEtag(json: string): string {
  return `W/"${createHash('sha1').update(json).digest('base64url')}"`;
}

/** RFC 9110 §13.1.2: `*`, or any listed tag equal to `etag` under the weak comparison (`W/` ignored). */
export function noneMatchHit(header: string, etag: string): boolean {
  const opaque = (t: string) => t.trim().replace(/^W\//, '');
  const want = opaque(etag);
  return header.split(',').some((t) => t.trim() === '*' || opaque(t) === want);
}

/**
 * Serializes `result` once (Koa would otherwise do it in its respond step), tags it, and answers 304 when the
 * request's If-None-Match names the tag. Evaluated here rather than with Koa's `ctx.fresh`, which (being written for
 * caches) ignores the header when the request says `Cache-Control: no-cache` — as fetch() does whenever a caller
 * sets If-None-Match itself; an origin server evaluates the precondition regardless (RFC 9110 §13.2.1).
 */
export function respondWithEtag(ctx: Context, result: unknown): void {
  const json = JSON.stringify(result);
  const etag = weakEtag(json);
  if (!notModified(ctx, etag)) respondJson(ctx, json);
}

/** Sets `ETag`; true (and a 304 without body) when the request's If-None-Match names it. */
export function notModified(ctx: Context, etag: string): boolean {
  ctx.set('ETag', etag);
  const ifNoneMatch = ctx.get('if-none-match');
  if (ifNoneMatch !== '' && (ctx.method === 'GET' || ctx.method === 'HEAD') && noneMatchHit(ifNoneMatch, etag)) {
    ctx.status = 304;
    return true;
  }
  return false;
}

/** Answers JSON text that is already serialized (Koa would JSON.stringify an object again). */
export function respondJson(ctx: Context, json: string): void {
  ctx.type = 'application/json';
  ctx.body = json;
}
