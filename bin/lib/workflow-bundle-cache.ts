/**
 * The workflow bundle of `npm start`, built once per source version in a child process and cached, so webpack never
 * runs inside the serving process: bundling in-process left ~150 MB of RSS behind for the life of the process
 * (docs/performance.md, Memory). A cache hit also skips the bundling time of a start.
 *
 * The key hashes what the bundle is made of: every file under workflows/ and core/ (a workflow imports pure core
 * files), bin/lib/worker.ts (the interceptor modules), package-lock.json (the SDK and webpack versions) and whether
 * the tracing interceptors are included. Bundles live in `<cache>/workflow-bundles/<key>.js` (<cache> as for the
 * pinned tools: $EASYENCLAVE_CACHE_DIR or ~/.cache/easyenclave); a write is a rename, so concurrent starts never
 * read half a file.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../../scripts/tools.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOURCES = ['workflows', 'core'];
const FILES = ['bin/lib/worker.ts', 'bin/build-workflows.ts', 'package-lock.json'];
/** Bundles of other source versions are removed once this old. */
const PRUNE_AFTER_MS = 7 * 24 * 3600_000;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The cache key of the bundle the current sources make. */
export async function workflowBundleKey(opts: { tracing: boolean; root?: string }): Promise<string> {
  const root = opts.root ?? ROOT;
  const files = [...(await Promise.all(SOURCES.map((d) => filesUnder(join(root, d))))).flat()];
  for (const f of FILES) files.push(join(root, f));
  const hash = createHash('sha256').update(opts.tracing ? 'tracing\n' : 'plain\n');
  for (const f of files.map((p) => relative(root, p)).sort()) {
    hash.update(`${f}\n`);
    hash.update(await readFile(join(root, f)).catch(() => Buffer.from('(missing)')));
  }
  return hash.digest('hex').slice(0, 32);
}

/**
 * The code of the cached bundle for the current sources, built first (`bin/build-workflows.ts` in a child process)
 * when there is none.
 */
export async function cachedWorkflowBundle(opts: {
  tracing: boolean;
  log: (message: string) => void;
}): Promise<{ code: string; path: string; built: boolean }> {
  const dir = join(cacheDir(), 'workflow-bundles');
  const path = join(dir, `${await workflowBundleKey({ tracing: opts.tracing })}.js`);
  const cached = await readFile(path, 'utf8').catch(() => null);
  if (cached !== null) return { code: cached, path, built: false };
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  opts.log(`Bundling workflows into ${path}…`);
  const child = spawn(
    process.execPath,
    // webpack needs more heap than the bound a serving process may run with (NODE_OPTIONS, npm start's flags).
    [
      '--max-old-space-size=2048',
      '--import',
      'tsx',
      'bin/build-workflows.ts',
      tmp,
      ...(opts.tracing ? ['--tracing'] : []),
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) {
    await unlink(tmp).catch(() => {});
    throw new Error(`bundling the workflows failed (exit ${code}):\n${stderr.trim()}`);
  }
  await rename(tmp, path);
  await prune(dir, path);
  return { code: await readFile(path, 'utf8'), path, built: true };
}

async function prune(dir: string, keep: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, name);
    if (p === keep) continue;
    const s = await stat(p).catch(() => null);
    if (s && Date.now() - s.mtimeMs > PRUNE_AFTER_MS) await unlink(p).catch(() => {});
  }
}
