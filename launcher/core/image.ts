/**
 * VM images. A local directory holds the boot artifacts (v1 layout, `easyenclave.` prefix optional):
 * `easyenclave.vmlinuz`, `easyenclave.initrd` (required), `easyenclave.root.raw` (verity root, optional for
 * kernel+initrd-only images) and `easyenclave.cmdline` (base kernel cmdline, optional). Anything else is an OCI
 * reference, pulled with the Distribution API (anonymous bearer-token flow) and its layers unpacked into
 * `<state>/images/<manifest digest>/`, then read as a directory.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LauncherError, notFoundError, usageError } from './errors';

export interface BootImage {
  dir: string;
  kernel: string;
  initrd: string;
  root?: string;
  baseCmdline?: string;
  /** The reference given (path or OCI ref). */
  ref: string;
}

const pick = (dir: string, names: string[]) => names.map((n) => join(dir, n)).find((p) => existsSync(p));

/** Missing required files of an image directory (empty when usable). */
export function missingImageFiles(dir: string): string[] {
  const missing: string[] = [];
  if (!pick(dir, ['easyenclave.vmlinuz', 'vmlinuz'])) missing.push('easyenclave.vmlinuz');
  if (!pick(dir, ['easyenclave.initrd', 'initrd', 'initrd.img'])) missing.push('easyenclave.initrd');
  return missing;
}

export function readImageDir(dir: string, ref = dir): BootImage {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw notFoundError(
      `image ${ref} not found`,
      'give a directory with easyenclave.vmlinuz and easyenclave.initrd, or an OCI reference like registry/name:tag',
    );
  }
  if (!isDir) throw usageError(`image ${ref} is not a directory`);
  const missing = missingImageFiles(dir);
  if (missing.length) {
    throw notFoundError(
      `image ${ref} is missing ${missing.join(', ')}`,
      'build the image (image/README.md) or point at its output directory',
    );
  }
  const cmdlineFile = pick(dir, ['easyenclave.cmdline', 'cmdline']);
  return {
    dir,
    ref,
    kernel: pick(dir, ['easyenclave.vmlinuz', 'vmlinuz'])!,
    initrd: pick(dir, ['easyenclave.initrd', 'initrd', 'initrd.img'])!,
    root: pick(dir, ['easyenclave.root.raw', 'root.raw']),
    baseCmdline: cmdlineFile ? readFileSync(cmdlineFile, 'utf8').trim() : undefined,
  };
}

export function looksLikeOciRef(ref: string): boolean {
  return (
    !ref.startsWith('/') && !ref.startsWith('.') && /^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+([:@][\w.:-]+)?$/i.test(ref)
  );
}

export interface OciRef {
  registry: string;
  repository: string;
  reference: string;
}

export function parseOciRef(ref: string): OciRef {
  const m = /^([^/]+)\/([^:@]+)(?:[:@](.+))?$/.exec(ref.trim());
  if (!m) throw usageError(`invalid OCI reference ${JSON.stringify(ref)}`);
  const reference = m[3] ?? 'latest';
  return { registry: m[1]!, repository: m[2]!, reference: ref.includes('@') ? ref.split('@')[1]! : reference };
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(',');

export type Progress = (message: string) => void;

/** Pulls an OCI image (its layers are tarballs of the boot artifacts) into the cache; returns its directory. */
export async function pullOciImage(ref: string, cacheDir: string, progress: Progress = () => {}): Promise<string> {
  const r = parseOciRef(ref);
  const scheme = /^(localhost|127\.0\.0\.1)(:\d+)?$/.test(r.registry) ? 'http' : 'https';
  const base = `${scheme}://${r.registry}/v2/${r.repository}`;
  let token: string | null = null;
  const get = async (url: string, accept?: string): Promise<Response> => {
    const headers: Record<string, string> = {};
    if (accept) headers.accept = accept;
    if (token) headers.authorization = `Bearer ${token}`;
    let res = await fetch(url, { headers });
    const challenge = res.headers.get('www-authenticate');
    if (res.status === 401 && challenge?.startsWith('Bearer ') && !token) {
      const p = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      const q = new URLSearchParams({ scope: p.scope ?? `repository:${r.repository}:pull` });
      if (p.service) q.set('service', p.service);
      const t = (await (await fetch(`${p.realm}?${q}`)).json()) as { token?: string; access_token?: string };
      token = t.token ?? t.access_token ?? null;
      res = await fetch(url, { headers: { ...headers, authorization: `Bearer ${token}` } });
    }
    if (!res.ok) throw new LauncherError(`registry ${url} answered ${res.status}`, res.status === 404 ? 4 : 1);
    return res;
  };
  progress(`resolving ${ref}`);
  let res = await get(`${base}/manifests/${r.reference}`, MANIFEST_ACCEPT);
  let manifest = (await res.json()) as {
    manifests?: { digest: string; platform?: { architecture?: string; os?: string } }[];
    layers?: { digest: string; mediaType: string }[];
  };
  let digest = res.headers.get('docker-content-digest');
  if (manifest.manifests) {
    const m =
      manifest.manifests.find((x) => x.platform?.architecture === 'amd64' && x.platform.os === 'linux') ??
      manifest.manifests[0];
    if (!m) throw new LauncherError(`image index of ${ref} is empty`);
    res = await get(`${base}/manifests/${m.digest}`, MANIFEST_ACCEPT);
    digest = m.digest;
    manifest = (await res.json()) as typeof manifest;
  }
  const key = (digest ?? createHash('sha256').update(JSON.stringify(manifest)).digest('hex')).replace(':', '-');
  const dir = join(cacheDir, key);
  if (existsSync(join(dir, '.complete'))) return dir;
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const [i, layer] of (manifest.layers ?? []).entries()) {
    progress(`extracting layer ${i + 1}/${manifest.layers!.length} ${layer.digest.slice(0, 19)}`);
    const blob = Buffer.from(await (await get(`${base}/blobs/${layer.digest}`)).arrayBuffer());
    const actual = 'sha256:' + createHash('sha256').update(blob).digest('hex');
    if (actual !== layer.digest) throw new LauncherError(`layer ${layer.digest} of ${ref} has digest ${actual}`);
    const file = join(tmp, '.layer');
    writeFileSync(file, blob);
    const gz = /gzip/.test(layer.mediaType) || blob[0] === 0x1f;
    const t = spawnSync('tar', [gz ? '-xzf' : '-xf', file, '-C', tmp, '--no-same-owner'], { encoding: 'utf8' });
    rmSync(file, { force: true });
    if (t.status !== 0) throw new LauncherError(`extracting layer ${layer.digest} failed: ${t.stderr.trim()}`);
  }
  writeFileSync(join(tmp, '.complete'), ref + '\n');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

export async function resolveImage(ref: string, cacheDir: string, progress?: Progress): Promise<BootImage> {
  if (!ref.trim()) throw usageError('no image given');
  if (existsSync(ref) || !looksLikeOciRef(ref)) return readImageDir(ref);
  return readImageDir(await pullOciImage(ref, cacheDir, progress), ref);
}
