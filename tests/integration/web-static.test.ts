/** The dashboard's static serving on its own: a missing build is a JSON 503 naming the fix, not a stack trace. */
import Router from '@koa/router';
import Koa from 'koa';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webRoutes } from '../../api/routes/web';

describe('web dashboard without a build', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ee-web-'));
  let server: ReturnType<Koa['listen']>;
  let url = '';
  beforeAll(async () => {
    const app = new Koa();
    const router = new Router();
    webRoutes(router, dir);
    app.use(router.routes());
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 with the build command for the pages and 404 for assets', async () => {
    for (const path of ['/admin', '/']) {
      const res = await fetch(`${url}${path}`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ detail: 'The web dashboard is not built: run npm run build:web' });
    }
    expect((await fetch(`${url}/assets/app-ABCDEFGH.js`)).status).toBe(404);
  });
});
