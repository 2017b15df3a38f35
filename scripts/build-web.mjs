#!/usr/bin/env node
/**
 * `npm run build:web`: bundles the dashboard (web/main.tsx, Preact) with esbuild into dist/web/ — hashed
 * assets/app-<hash>.js and .css plus an index.html naming them — which the API serves at `/`, `/admin` and
 * `/assets/*` (api/routes/web.ts). The output is never committed: `npm start`, `npm run api` and the test suite's
 * global setup build it first (about a second). The new tree is written beside the old one and swapped in with a
 * rename, so a running API never serves a half-written build.
 */
import { build } from 'esbuild';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_OUT_DIR = join(ROOT, 'dist', 'web');

const html = (js, css) => `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>easyenclave</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/assets/${css}">
  <script type="module" src="/assets/${js}"></script>
</head>
<body>
  <div id="app"></div>
</body>
</html>
`;

/** Builds into `outDir` (default dist/web); returns the asset file names. */
export async function buildWeb({ outDir = WEB_OUT_DIR } = {}) {
  const staging = `${outDir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, 'assets'), { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: 'web/main.tsx' },
    bundle: true,
    outdir: join(staging, 'assets'),
    entryNames: '[name]-[hash]',
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: 'web/tsconfig.json',
    minify: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  if (!js || !css) throw new Error(`build:web produced ${outputs.join(', ')}; expected one .js and one .css`);
  writeFileSync(join(staging, 'index.html'), html(js, css));
  const old = `${outDir}.old-${process.pid}`;
  rmSync(old, { recursive: true, force: true });
  try {
    renameSync(outDir, old);
  } catch {
    // first build: nothing to move aside
  }
  renameSync(staging, outDir);
  rmSync(old, { recursive: true, force: true });
  return { js, css, outDir };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { js, css, outDir } = await buildWeb();
  console.log(`web dashboard built: ${outDir} (${js}, ${css})`);
}
