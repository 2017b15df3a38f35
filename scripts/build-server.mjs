/**
 * The server bundle of `npm start`: bin/start.ts and everything of ours it imports, bundled by esbuild into one ESM
 * file, `dist/server/start.mjs`, which plain `node` runs. Running from it instead of `tsx bin/start.ts` leaves tsx's
 * module-loader thread (its own V8 isolate), its es-module-lexer wasm memory and its esbuild child process out of the
 * serving process, and compiles no TypeScript at start (docs/performance.md, Memory).
 *
 * npm packages stay external (`--packages=external`): they load from node_modules as under tsx, native addons and
 * the Temporal SDK's worker-thread files included. Every `import.meta.url` of a bundled file is rewritten to that
 * file's own URL, expressed relative to the bundle, so source-relative paths (the workflow sources, the dev-server
 * guard, dist/web, package.json) resolve exactly as they do from source and the checkout may move.
 *
 * It is rebuilt when stale: the bundle's first line records a hash of its inputs (the files esbuild read, listed on
 * its second line), package-lock.json and this script; `ensureServerBundle()` rehashes those and rebuilds on a
 * mismatch (~1 s). A write is a rename, so concurrent starts never run half a file.
 *
 *   node scripts/build-server.mjs            # build if stale
 *   node scripts/build-server.mjs --force    # rebuild
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SERVER_BUNDLE = join(ROOT, 'dist', 'server', 'start.mjs');
const ENTRY = join(ROOT, 'bin', 'start.ts');
const MARK = '// ee-server-bundle ';
const INPUTS = '// inputs ';
/** Besides the inputs esbuild reports: what decides how they are built and what they link against. */
const ALWAYS = ['package-lock.json', 'tsconfig.json', 'scripts/build-server.mjs'];

async function keyOf(inputs) {
  const hash = createHash('sha256');
  for (const f of [...new Set([...inputs, ...ALWAYS])].sort()) {
    hash.update(`${f}\n`);
    hash.update(await readFile(join(ROOT, f)).catch(() => Buffer.from('(missing)')));
  }
  return hash.digest('hex').slice(0, 32);
}

/** The recorded key and inputs of the current bundle, or null when there is none. */
async function recorded() {
  const text = await readFile(SERVER_BUNDLE, 'utf8').catch(() => null);
  if (text === null) return null;
  const [first = '', second = ''] = text.split('\n', 2);
  if (!first.startsWith(MARK) || !second.startsWith(INPUTS)) return null;
  return { key: first.slice(MARK.length), inputs: JSON.parse(second.slice(INPUTS.length)) };
}

/** Rewrites `import.meta.url` in each bundled file of ours to that file's URL, relative to the bundle's own. */
const sourceUrls = {
  name: 'source-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.(ts|mts|mjs|js)$/ }, async (args) => {
      if (args.path.includes(`${join('node_modules')}`)) return undefined;
      const text = await readFile(args.path, 'utf8');
      const rel = relative(dirname(SERVER_BUNDLE), args.path).split('\\').join('/');
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
      return {
        contents: text.replace(/\bimport\.meta\.url\b/g, url),
        loader: args.path.endsWith('ts') ? 'ts' : 'js',
        resolveDir: dirname(args.path),
      };
    });
  },
};

/**
 * Deep imports of CommonJS packages without an extension (`@temporalio/common/lib/encoding`) resolve under tsx and
 * bundlers but not under Node's ESM loader: they stay external with the file Node's own resolver finds.
 */
const deepImports = {
  name: 'deep-import-extensions',
  setup(build) {
    build.onResolve({ filter: /^(@[^/]+\/)?[^./@][^/]*\/.+/ }, (args) => {
      if (/\.[cm]?js$|\.json$/.test(args.path)) return undefined;
      let found;
      try {
        found = createRequire(join(args.resolveDir, 'x.js')).resolve(args.path).split('\\').join('/');
      } catch {
        return undefined;
      }
      for (const tail of ['.js', '/index.js'])
        if (found.endsWith(`${args.path}${tail}`)) return { path: `${args.path}${tail}`, external: true };
      return undefined;
    });
  },
};

/** Builds the bundle (always); returns its path. */
export async function buildServerBundle() {
  // esbuild is a dependency of tsx (a dependency), so an install without dev dependencies has it too.
  const { build } = await import('esbuild').catch(
    () => import(pathToFileURL(createRequire(createRequire(ENTRY).resolve('tsx')).resolve('esbuild')).href),
  );
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    write: false,
    metafile: true,
    sourcemap: 'linked',
    outfile: SERVER_BUNDLE,
    logLevel: 'warning',
    plugins: [deepImports, sourceUrls],
  });
  const inputs = Object.keys(result.metafile.inputs)
    .map((p) => relative(ROOT, resolve(ROOT, p)).split('\\').join('/'))
    .sort();
  const key = await keyOf(inputs);
  await mkdir(dirname(SERVER_BUNDLE), { recursive: true });
  const suffix = `.${process.pid}.${Date.now()}.tmp`;
  for (const out of result.outputFiles) {
    const isCode = out.path.endsWith('.mjs');
    const text = isCode ? `${MARK}${key}\n${INPUTS}${JSON.stringify(inputs)}\n${out.text}` : out.text;
    // The map is written first: a start that sees the new code finds its map. The two header lines shift the code
    // by two lines, which the map (generated without them) is told about through an empty `mappings` prefix.
    const content = isCode ? text : shiftMap(out.text, 2);
    await writeFile(`${out.path}${suffix}`, content);
  }
  const maps = result.outputFiles.filter((o) => o.path.endsWith('.map'));
  for (const out of [...maps, ...result.outputFiles.filter((o) => !maps.includes(o))])
    await rename(`${out.path}${suffix}`, out.path).catch(async (err) => {
      await unlink(`${out.path}${suffix}`).catch(() => {});
      throw err;
    });
  return SERVER_BUNDLE;
}

/** A source map for code that gained `lines` lines at its top. */
function shiftMap(text, lines) {
  const map = JSON.parse(text);
  map.mappings = ';'.repeat(lines) + map.mappings;
  return JSON.stringify(map);
}

/** The bundle's path, rebuilt first when it is missing or stale. */
export async function ensureServerBundle({ log = () => {}, force = false } = {}) {
  const current = force ? null : await recorded();
  if (current && current.key === (await keyOf(current.inputs))) return SERVER_BUNDLE;
  log(`Building the server bundle ${relative(ROOT, SERVER_BUNDLE)}…`);
  return buildServerBundle();
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await ensureServerBundle({ force: process.argv.includes('--force'), log: (m) => process.stderr.write(`${m}\n`) });
}
