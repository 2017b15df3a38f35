/**
 * A real OCI registry for tests: Debian's `docker-registry` (the CNCF distribution server) on a free loopback
 * port with a temporary storage directory, and a small pusher that writes an OCI image (config + one layer +
 * manifest, optionally a multi-arch index) and uploads it with the Distribution API (monolithic blob uploads,
 * then PUT manifest). stop() kills the server and removes its storage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/free-port.mjs';

export const REGISTRY_BIN = process.env.DOCKER_REGISTRY_BIN ?? '/usr/bin/docker-registry';

export interface PushedImage {
  /** Digest of the linux/amd64 image manifest. */
  digest: string;
  /** Digest the tag points at (the index for multi-arch pushes). */
  tagDigest: string;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  url: string;
  push(repository: string, tag: string, opts?: { multiArch?: boolean; seed?: string }): Promise<PushedImage>;
  stop(): Promise<void>;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function startRegistry(): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'ee-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = `http://${host}`;
  const until = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const r = await fetch(`${url}/v2/`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  async function putBlob(repository: string, bytes: Buffer): Promise<string> {
    const digest = sha(bytes);
    const start = await fetch(`${url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${await start.text()}`);
    const loc = new URL(start.headers.get('location')!, url);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
    return digest;
  }

  async function putManifest(repository: string, reference: string, mediaType: string, body: Buffer) {
    const r = await fetch(`${url}/v2/${repository}/manifests/${reference}`, {
      method: 'PUT',
      headers: { 'content-type': mediaType },
      body,
    });
    if (r.status !== 201) throw new Error(`manifest put: ${r.status} ${await r.text()}`);
    return sha(body);
  }

  async function image(repository: string, arch: string, seed: string): Promise<{ digest: string; size: number }> {
    const layer = Buffer.concat([Buffer.from(`layer ${seed} ${arch}\n`), randomBytes(16)]);
    const layerDigest = await putBlob(repository, layer);
    const cfg = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [layerDigest] },
      }),
    );
    const cfgDigest = await putBlob(repository, cfg);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfgDigest, size: cfg.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
      }),
    );
    const digest = await putManifest(repository, sha(manifest), 'application/vnd.oci.image.manifest.v1+json', manifest);
    return { digest, size: manifest.length };
  }

  return {
    host,
    url,
    async push(repository, tag, opts = {}) {
      const seed = opts.seed ?? randomBytes(4).toString('hex');
      const amd64 = await image(repository, 'amd64', seed);
      if (!opts.multiArch) {
        const m = await fetch(`${url}/v2/${repository}/manifests/${amd64.digest}`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        const bytes = Buffer.from(await m.arrayBuffer());
        await putManifest(repository, tag, 'application/vnd.oci.image.manifest.v1+json', bytes);
        return { digest: amd64.digest, tagDigest: amd64.digest };
      }
      const arm64 = await image(repository, 'arm64', seed);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: arm64.digest,
              size: arm64.size,
              platform: { os: 'linux', architecture: 'arm64' },
            },
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: amd64.digest,
              size: amd64.size,
              platform: { os: 'linux', architecture: 'amd64' },
            },
          ],
        }),
      );
      const tagDigest = await putManifest(repository, tag, 'application/vnd.oci.image.index.v1+json', index);
      return { digest: amd64.digest, tagDigest };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
