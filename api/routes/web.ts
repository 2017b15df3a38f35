/**
 * The web dashboard (web/): `/` and `/admin` answer the app's HTML, `/assets/<name>-<hash>.<ext>` its hashed bundle.
 * The build (`npm run build:web`, scripts/build-web.mjs) writes dist/web/; `npm start`, `npm run api` and the test
 * suite's global setup run it first, so it is never committed.
 *
 * Headers: the HTML is `no-cache` (a new build is picked up at once) and hashed assets are immutable for a year. A
 * strict Content-Security-Policy allows only this origin's scripts, styles and fetches (no inline code, no CDN),
 * and no framing. `Referrer-Policy: no-referrer` because the GitHub login lands on `/admin?token=…` (api.md §7):
 * the app moves the token into sessionStorage and drops it from the address at once, and no request ever carries
 * that address onwards.
 *
 * v1 compatibility (api.md §14): `/` answered `{"message": "EasyEnclave Discovery Service", "docs": "/docs"}`
 * without a static index; a client that asks for JSON still gets that answer.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_DIST_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/web');

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Only the names esbuild writes (`[name]-[hash]`): nothing else under or above the folder is reachable. */
const ASSET_RE = /^[A-Za-z0-9_]+-[A-Z0-9]{8}\.(js|css)$/;
const ASSET_TYPES: Record<string, string> = {
  js: 'application/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

function securityHeaders(ctx: Context): void {
  ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
}

export function webRoutes(router: Router, distDir = WEB_DIST_DIR): void {
  const page = async (ctx: Context) => {
    let html: string;
    try {
      html = await readFile(join(distDir, 'index.html'), 'utf8');
    } catch {
      ctx.status = 503;
      ctx.body = { detail: 'The web dashboard is not built: run npm run build:web' };
      return;
    }
    securityHeaders(ctx);
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = html;
  };

  router.get('/', async (ctx) => {
    ctx.vary('Accept');
    if (ctx.accepts('html', 'json') === 'json') {
      ctx.body = { message: 'EasyEnclave Discovery Service', docs: '/docs' };
      return;
    }
    await page(ctx);
  });
  router.get('/admin', page);

  router.get('/assets/:file', async (ctx) => {
    const file = ctx.params.file!;
    const m = ASSET_RE.exec(file);
    if (!m) return;
    const path = join(distDir, 'assets', file);
    try {
      if (!(await stat(path)).isFile()) return;
    } catch {
      return;
    }
    securityHeaders(ctx);
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.type = ASSET_TYPES[m[1]!]!;
    ctx.body = await readFile(path);
  });
}
