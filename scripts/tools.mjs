// Finds (or builds, or downloads) the pinned external tools the project needs:
//   - temporal     the Temporal CLI (dev server for `npm start` and the tests)
//   - stripe-mock  Stripe's mock API server (Stripe activity tests)
//   - cosign       Sigstore's signing CLI (image signature verification in measurement)
//
// Plain ESM JavaScript with no dependencies, so it runs before `npm ci` has finished
// and from `pretest`/`start` hooks without tsx.
//
// Resolution order per tool (first hit wins):
//   1. explicit override env var ($TEMPORAL_CLI / $STRIPE_MOCK_BIN / $COSIGN_BIN); must be an
//      executable file, otherwise a clear error (never a silent fallback)
//   2. the tool's name on $PATH
//   3. the project's tool cache: <cache>/bin/<name>
//      where <cache> = $EASYENCLAVE_CACHE_DIR or ${XDG_CACHE_HOME:-~/.cache}/easyenclave
//   4. `go install <module>@<version>` with GOBIN pointing into the cache (only if
//      `go` is on $PATH)
//   5. the official release download (needs the internet)
//
// Installs go to a temp directory inside <cache>/bin and are renamed into place, so an
// interrupted build never leaves a half-written binary. Next to each installed binary
// a `<name>.version` stamp records the pinned version; a cached binary whose stamp
// names another version is rebuilt (a binary without a stamp, e.g. one copied in by
// hand, is trusted).
//
// All diagnostics go to stderr (through `log`); as a CLI
// (`node scripts/tools.mjs <name>`) only the final absolute path is printed to stdout.

import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// ---------------------------------------------------------------------------------
// Pinned versions: change them here only (the CI cache key is built from them).
// ---------------------------------------------------------------------------------
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const STRIPE_MOCK_VERSION = 'v0.203.0';
export const COSIGN_VERSION = 'v2.6.5';

export const TOOLS = Object.freeze({
  temporal: Object.freeze({
    version: TEMPORAL_CLI_VERSION,
    envVar: 'TEMPORAL_CLI',
    goPackage: 'github.com/temporalio/cli/cmd/temporal',
    /** @param {{ os: string, arch: string }} p */
    downloadUrl: (p) => `https://temporal.download/cli/archive/${TEMPORAL_CLI_VERSION}?platform=${p.os}&arch=${p.arch}`,
  }),
  'stripe-mock': Object.freeze({
    version: STRIPE_MOCK_VERSION,
    envVar: 'STRIPE_MOCK_BIN',
    goPackage: 'github.com/stripe/stripe-mock',
    // goreleaser's default archive name; upstream publishes amd64 builds only.
    /** @param {{ os: string, arch: string }} p */
    downloadUrl: (p) =>
      `https://github.com/stripe/stripe-mock/releases/download/${STRIPE_MOCK_VERSION}/` +
      `stripe-mock_${STRIPE_MOCK_VERSION.slice(1)}_${p.os}_${p.os === 'darwin' ? 'amd64' : p.arch}.tar.gz`,
  }),
  cosign: Object.freeze({
    version: COSIGN_VERSION,
    envVar: 'COSIGN_BIN',
    goPackage: 'github.com/sigstore/cosign/v2/cmd/cosign',
    // Upstream publishes bare binaries (not archives); the go install path above is the
    // one this project relies on, so the download step is only a last resort.
    /** @param {{ os: string, arch: string }} p */
    downloadUrl: (p) =>
      `https://github.com/sigstore/cosign/releases/download/${COSIGN_VERSION}/cosign-${p.os}-${p.arch}.tar.gz`,
  }),
});

const HEARTBEAT_MS = 15_000;

// ---------------------------------------------------------------------------------

/**
 * @param {NodeJS.ProcessEnv} env
 * @returns {string}
 */
export function cacheDir(env = process.env) {
  if (env.EASYENCLAVE_CACHE_DIR) return path.resolve(env.EASYENCLAVE_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.resolve(xdg, 'easyenclave');
}

/** @param {string} p */
async function isExecutableFile(p) {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * First executable `name` on env.PATH, or null.
 * @param {string} name
 * @param {NodeJS.ProcessEnv} env
 */
export async function which(name, env = process.env) {
  for (const dir of (env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function platform() {
  const osName = { linux: 'linux', darwin: 'darwin' }[process.platform];
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch];
  if (!osName || !arch) {
    throw new Error(`no prebuilt tools for ${process.platform}/${process.arch}`);
  }
  return { os: osName, arch };
}

/** @param {number} ms */
function fmtElapsed(ms) {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * Calls `tick(elapsedText)` every HEARTBEAT_MS until the returned stop() is called.
 * @param {(elapsed: string) => void} tick
 */
function heartbeat(tick) {
  const started = Date.now();
  const timer = setInterval(() => tick(fmtElapsed(Date.now() - started)), HEARTBEAT_MS);
  timer.unref?.();
  return () => {
    clearInterval(timer);
    return fmtElapsed(Date.now() - started);
  };
}

/**
 * Runs a command, forwarding each output line to `onLine`. Rejects on non-zero exit.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ env: NodeJS.ProcessEnv, cwd?: string, onLine: (line: string) => void }} opts
 */
function run(cmd, args, { env, cwd, onLine }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = [];
    const pump = (stream) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          tail.push(line);
          if (tail.length > 20) tail.shift();
          onLine(line);
        }
      });
      stream.on('end', () => {
        if (buf) {
          tail.push(buf);
          onLine(buf);
        }
      });
    };
    pump(child.stdout);
    pump(child.stderr);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(undefined);
      else {
        const why = signal ? `killed by ${signal}` : `exit code ${code}`;
        const output = tail.map((l) => `      ${l}`).join('\n');
        reject(new Error(`${cmd} ${args.join(' ')} failed (${why})${output ? `\n${output}` : ''}`));
      }
    });
  });
}

/** @param {string} binDir @param {string} name */
async function makeTempDir(binDir, name) {
  await fs.mkdir(binDir, { recursive: true });
  return fs.mkdtemp(path.join(binDir, `.tmp-${name}-`));
}

/**
 * Moves a freshly built/extracted binary into the cache atomically and stamps it.
 * @param {string} src @param {string} dest @param {string} version
 */
async function installInto(src, dest, version) {
  await fs.chmod(src, 0o755);
  await fs.rename(src, dest);
  await fs.writeFile(`${dest}.version`, `${version}\n`);
}

/** Finds a file called `name` anywhere under `dir`. @param {string} dir @param {string} name */
async function findFile(dir, name) {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return p;
    if (entry.isDirectory()) {
      const hit = await findFile(p, name);
      if (hit) return hit;
    }
  }
  return null;
}

/**
 * @param {string} name
 * @param {typeof TOOLS[keyof typeof TOOLS]} spec
 * @param {{ go: string, binDir: string, env: NodeJS.ProcessEnv, log: (msg: string) => void }} ctx
 */
async function goInstall(name, spec, { go, binDir, env, log }) {
  const target = `${spec.goPackage}@${spec.version}`;
  const tmp = await makeTempDir(binDir, name);
  log(
    `[tools] ${name}: building with \`${go} install -v ${target}\` (GOBIN=${tmp}); this can take several minutes on a small machine`,
  );
  const stop = heartbeat((t) => log(`[tools] ${name}: go install still running… ${t} elapsed`));
  try {
    await run(go, ['install', '-v', target], {
      env: { ...env, GOBIN: tmp },
      cwd: tmp, // outside any go.mod, so `go install pkg@version` is module-aware and isolated
      onLine: (line) => log(`  | ${line}`),
    });
    const built = path.join(tmp, name);
    if (!(await isExecutableFile(built))) throw new Error(`go install finished but ${built} is missing`);
    const dest = path.join(binDir, name);
    await installInto(built, dest, spec.version);
    log(`[tools] ${name}: built in ${stop()}`);
    return dest;
  } finally {
    stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * @param {string} name
 * @param {typeof TOOLS[keyof typeof TOOLS]} spec
 * @param {{ binDir: string, env: NodeJS.ProcessEnv, log: (msg: string) => void }} ctx
 */
async function download(name, spec, { binDir, env, log }) {
  const url = spec.downloadUrl(platform());
  const tmp = await makeTempDir(binDir, name);
  log(`[tools] ${name}: downloading ${url}`);
  let received = 0;
  const stop = heartbeat((t) =>
    log(`[tools] ${name}: still downloading… ${(received / 1e6).toFixed(1)} MB after ${t}`),
  );
  try {
    const res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(10 * 60_000) });
    if (!res.ok || !res.body) throw new Error(`GET ${url} → HTTP ${res.status}`);
    const total = Number(res.headers.get('content-length')) || 0;
    if (total) log(`[tools] ${name}: ${(total / 1e6).toFixed(1)} MB`);
    const archive = path.join(tmp, 'archive.tar.gz');
    const fh = await fs.open(archive, 'w');
    try {
      for await (const chunk of res.body) {
        received += chunk.length;
        await fh.write(chunk);
      }
    } finally {
      await fh.close();
    }
    const extractDir = path.join(tmp, 'x');
    await fs.mkdir(extractDir);
    await run('tar', ['-xzf', archive, '-C', extractDir], {
      env,
      onLine: (l) => log(`  tar: ${l}`),
    });
    const bin = await findFile(extractDir, name);
    if (!bin) throw new Error(`archive from ${url} holds no file named ${name}`);
    const dest = path.join(binDir, name);
    await installInto(bin, dest, spec.version);
    log(`[tools] ${name}: downloaded in ${stop()}`);
    return dest;
  } finally {
    stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Returns the absolute path of an executable for `name`, installing it into the
 * project's tool cache when needed.
 *
 * @param {'temporal' | 'stripe-mock' | 'cosign'} name
 * @param {{ log?: (msg: string) => void, env?: NodeJS.ProcessEnv }} [options]
 *   `env` defaults to process.env (tests pass their own to stay hermetic).
 * @returns {Promise<string>}
 */
export async function ensureTool(name, { log = console.error, env = process.env } = {}) {
  const spec = TOOLS[/** @type {keyof typeof TOOLS} */ (name)];
  if (!spec) throw new Error(`unknown tool "${name}" (known: ${Object.keys(TOOLS).join(', ')})`);

  // 1. explicit override
  const override = env[spec.envVar];
  if (override) {
    const p = path.resolve(override);
    if (await isExecutableFile(p)) {
      log(`[tools] ${name}: using $${spec.envVar}=${p}`);
      return p;
    }
    throw new Error(
      `${spec.envVar}=${override} does not exist or is not an executable file; ` +
        `fix or unset ${spec.envVar} to let scripts/tools.mjs find or install ${name} ${spec.version}`,
    );
  }

  // 2. PATH
  const onPath = await which(name, env);
  if (onPath) {
    log(`[tools] ${name}: using ${onPath} from PATH (version not checked; pinned is ${spec.version})`);
    return onPath;
  }

  // 3. cache
  const binDir = path.join(cacheDir(env), 'bin');
  const cached = path.join(binDir, name);
  if (await isExecutableFile(cached)) {
    const stamp = await fs.readFile(`${cached}.version`, 'utf8').then(
      (s) => s.trim(),
      () => null,
    );
    if (stamp === null || stamp === spec.version) {
      log(`[tools] ${name}: using cached ${cached}${stamp ? ` (${stamp})` : ' (no version stamp)'}`);
      return cached;
    }
    log(`[tools] ${name}: cached ${cached} is ${stamp}, pinned is ${spec.version}; reinstalling`);
  } else {
    log(`[tools] ${name}: not in $${spec.envVar}, PATH or ${binDir}`);
  }

  // 4. go install
  const failures = [];
  const go = await which('go', env);
  if (go) {
    try {
      return await goInstall(name, spec, { go, binDir, env, log });
    } catch (err) {
      failures.push(`go install: ${err instanceof Error ? err.message : err}`);
      log(`[tools] ${name}: go install failed; trying the release download`);
    }
  } else {
    log(`[tools] ${name}: \`go\` not on PATH; skipping go install`);
  }

  // 5. download
  try {
    return await download(name, spec, { binDir, env, log });
  } catch (err) {
    const cause = err instanceof Error && err.cause ? ` (${err.cause.message ?? err.cause})` : '';
    failures.push(`download: ${err instanceof Error ? err.message : err}${cause}`);
  }

  throw new Error(
    `could not find or install ${name} ${spec.version}.\n` +
      failures.map((f) => `  - ${f}`).join('\n') +
      `\nInstall Go (https://go.dev/dl/) and rerun, or put ${name} on PATH, or set ${spec.envVar}=/path/to/${name}.`,
  );
}

// CLI: node scripts/tools.mjs <name>  → prints the path only.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const name = process.argv[2];
  if (!name || !(name in TOOLS)) {
    console.error(`usage: node scripts/tools.mjs <${Object.keys(TOOLS).join('|')}>`);
    process.exit(2);
  }
  ensureTool(/** @type {keyof typeof TOOLS} */ (name)).then(
    (p) => process.stdout.write(`${p}\n`),
    (err) => {
      console.error(`[tools] error: ${err instanceof Error ? err.message : err}`);
      process.exit(1);
    },
  );
}
