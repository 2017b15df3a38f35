/**
 * A fake OCI registry (Distribution API v2) serving one image `ee/image:1` whose single gzip layer holds
 * `easyenclave.vmlinuz`, `easyenclave.initrd` and `easyenclave.cmdline`, behind the anonymous bearer-token flow
 * (401 + `WWW-Authenticate: Bearer realm=…/token` until the token is presented). The tag resolves to an image index
 * whose linux/amd64 entry is the manifest. `corruptLayer()` serves different bytes under the same digest.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeRegistry {
  /** host:port */
  host: string;
  blobFetches: number;
  corruptLayer(): void;
  close(): Promise<void>;
}

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

export async function startFakeRegistry(): Promise<FakeRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'ee-fake-registry-'));
  writeFileSync(join(dir, 'easyenclave.vmlinuz'), 'oci kernel');
  writeFileSync(join(dir, 'easyenclave.initrd'), 'oci initrd');
  writeFileSync(join(dir, 'easyenclave.cmdline'), 'console=ttyS0 from-oci\n');
  let layer = execFileSync('tar', [
    '-czf',
    '-',
    '-C',
    dir,
    'easyenclave.vmlinuz',
    'easyenclave.initrd',
    'easyenclave.cmdline',
  ]);
  rmSync(dir, { recursive: true, force: true });
  const layerDigest = sha(layer);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('{}'), size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
  });
  const manifestDigest = sha(manifest);
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha('arm'),
        platform: { os: 'linux', architecture: 'arm64' },
      },
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifestDigest,
        platform: { os: 'linux', architecture: 'amd64' },
      },
    ],
  });
  const reg: Partial<FakeRegistry> = { blobFetches: 0 };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const { port } = server.address() as AddressInfo;
    if (url.pathname === '/token') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ token: `tok-${url.searchParams.get('scope')}` }));
    }
    if (req.headers.authorization !== 'Bearer tok-repository:ee/image:pull') {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="fake",scope="repository:ee/image:pull"`,
      });
      return res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    const send = (body: string | Buffer, type: string, digest?: string) => {
      res.writeHead(200, { 'content-type': type, ...(digest ? { 'docker-content-digest': digest } : {}) });
      res.end(body);
    };
    if (url.pathname === '/v2/ee/image/manifests/1')
      return send(index, 'application/vnd.oci.image.index.v1+json', sha(index));
    if (url.pathname === `/v2/ee/image/manifests/${manifestDigest}`) {
      return send(manifest, 'application/vnd.oci.image.manifest.v1+json', manifestDigest);
    }
    if (url.pathname === `/v2/ee/image/blobs/${layerDigest}`) {
      reg.blobFetches! += 1;
      return send(layer, 'application/octet-stream');
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(reg, {
    host: `127.0.0.1:${port}`,
    corruptLayer: () => {
      layer = Buffer.concat([layer, Buffer.from('x')]);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  }) as FakeRegistry;
}
