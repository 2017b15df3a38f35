/** The served OpenAPI document and a browsable Swagger UI, both offline-capable. */
import type Router from '@koa/router';
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OpenApiRegistry } from '../http/openapi';
import { VERSION } from './health';

const ASSETS = new Map([
  ['swagger-ui.css', 'text/css; charset=utf-8'],
  ['swagger-ui-bundle.js', 'application/javascript; charset=utf-8'],
  ['swagger-ui-standalone-preset.js', 'application/javascript; charset=utf-8'],
  ['favicon-32x32.png', 'image/png'],
]);

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>easyenclave API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: '/openapi.json',
      dom_id: '#swagger-ui',
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: 'StandaloneLayout',
      persistAuthorization: true,
    });
  </script>
</body>
</html>`;

/** The served document of a registry (its info block is fixed here, once). */
export const apiDocument = (registry: OpenApiRegistry): Record<string, unknown> =>
  registry.document({
    title: 'easyenclave control plane',
    version: VERSION,
    description: 'Attested Intel TDX agents, deployments, billing and capacity, orchestrated by Temporal.',
  });

export function docsRoutes(router: Router, registry: OpenApiRegistry): void {
  const assetDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  let doc: Record<string, unknown> | undefined;
  router.get('/openapi.json', (ctx) => {
    doc ??= apiDocument(registry);
    ctx.body = doc;
  });
  router.get('/docs', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = PAGE;
  });
  router.get('/docs/assets/:file', (ctx) => {
    const type = ASSETS.get(ctx.params.file!);
    if (!type) return;
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.body = createReadStream(join(assetDir, ctx.params.file!));
  });
}
