/**
 * A small client of the OCI Distribution API (https://github.com/opencontainers/distribution-spec), enough to turn
 * a tag into the digest of the manifest that runs on linux/amd64:
 * - `GET /v2/<name>/manifests/<ref>` with an `Accept` for OCI index/manifest and Docker manifest list/v2;
 * - a 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered with an anonymous token request
 *   and one retry (the handshake of the Docker token spec);
 * - an index / manifest list is followed to its `linux/amd64` entry;
 * - the digest is computed over the bytes received and checked against `Docker-Content-Digest` when present.
 *
 * Failures are `OciError`s with a kind the activity maps to retryable (unavailable) or not (not_found,
 * unauthorized, invalid).
 */
import { createHash } from 'node:crypto';
import type { ImageRef } from '../core/compose';

export const MANIFEST_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;
const ACCEPT = Object.values(MANIFEST_TYPES).join(', ');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export type OciErrorKind = 'not_found' | 'unauthorized' | 'unavailable' | 'invalid';

export class OciError extends Error {
  override readonly name = 'OciError';
  constructor(
    readonly kind: OciErrorKind,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

export interface OciClientOptions {
  fetch?: typeof globalThis.fetch;
  /** Registry hosts (host[:port]) spoken to over plain http (local registries); others use https. */
  insecureRegistries?: readonly string[];
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ResolvedImage {
  /** Digest of the manifest that runs on linux/amd64. */
  digest: string;
  /** Digest the tag pointed at (the index when multi-arch; else the same as digest). */
  tagDigest: string;
  mediaType: string;
  platform: string | null;
}

interface Fetched {
  status: number;
  headers: Headers;
  bytes: Buffer;
}

export function createOciClient(opts: OciClientOptions = {}) {
  const fetchImpl = opts.fetch ?? ((i, init) => globalThis.fetch(i, init));
  const insecure = new Set((opts.insecureRegistries ?? []).map((h) => h.trim().toLowerCase()).filter(Boolean));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const tokens = new Map<string, string>();

  const base = (registry: string) => `${insecure.has(registry.toLowerCase()) ? 'http' : 'https'}://${registry}`;

  async function send(url: string, headers: Record<string, string>): Promise<Fetched> {
    const signals = [AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : [])];
    let res: Response;
    try {
      res = await fetchImpl(url, { headers, redirect: 'follow', signal: AbortSignal.any(signals) });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new OciError('unavailable', `cannot reach ${new URL(url).host}: ${cause ?? (err as Error).message}`);
    }
    const buf = Buffer.from(await res.arrayBuffer());
    if (buf.length > MAX_MANIFEST_BYTES) throw new OciError('invalid', `manifest at ${url} is larger than 4 MiB`);
    return { status: res.status, headers: res.headers, bytes: buf };
  }

  /** The Bearer challenge handshake: an anonymous token for the scope the registry asked for. */
  async function token(challenge: string, repository: string): Promise<string | null> {
    const m = /^\s*Bearer\s+(.*)$/i.exec(challenge);
    if (!m) return null;
    const params: Record<string, string> = {};
    for (const p of m[1]!.matchAll(/([A-Za-z_]+)="([^"]*)"/g)) params[p[1]!.toLowerCase()] = p[2]!;
    if (!params.realm) return null;
    const url = new URL(params.realm);
    url.searchParams.set('scope', params.scope ?? `repository:${repository}:pull`);
    if (params.service) url.searchParams.set('service', params.service);
    const r = await send(url.toString(), { accept: 'application/json' });
    if (r.status >= 500) throw new OciError('unavailable', `token service ${url.host} answered ${r.status}`, r.status);
    if (r.status !== 200) return null;
    try {
      const body = JSON.parse(r.bytes.toString('utf8')) as { token?: string; access_token?: string };
      return body.token || body.access_token || null;
    } catch {
      return null;
    }
  }

  async function getManifest(ref: ImageRef, reference: string): Promise<Fetched> {
    const url = `${base(ref.registry)}/v2/${ref.repository}/manifests/${reference}`;
    const key = `${ref.registry}/${ref.repository}`;
    const headers: Record<string, string> = { accept: ACCEPT };
    const cached = tokens.get(key);
    if (cached) headers.authorization = `Bearer ${cached}`;
    let r = await send(url, headers);
    if (r.status === 401) {
      const t = await token(r.headers.get('www-authenticate') ?? '', ref.repository);
      if (t) {
        tokens.set(key, t);
        r = await send(url, { ...headers, authorization: `Bearer ${t}` });
      }
    }
    const where = `${ref.registry}/${ref.repository}:${reference}`;
    if (r.status === 200) return r;
    if (r.status === 404) throw new OciError('not_found', `${where} does not exist on the registry`, 404);
    if (r.status === 401 || r.status === 403) {
      throw new OciError('unauthorized', `registry refused access to ${where} (HTTP ${r.status})`, r.status);
    }
    if (r.status >= 500 || r.status === 429 || r.status === 408) {
      throw new OciError('unavailable', `registry ${ref.registry} answered ${r.status} for ${where}`, r.status);
    }
    throw new OciError('invalid', `registry ${ref.registry} answered ${r.status} for ${where}`, r.status);
  }

  function digestOf(r: Fetched, where: string): string {
    const computed = `sha256:${createHash('sha256').update(r.bytes).digest('hex')}`;
    const claimed = r.headers.get('docker-content-digest');
    if (claimed && claimed !== computed) {
      throw new OciError(
        'invalid',
        `registry sent ${where} with Docker-Content-Digest ${claimed} but the bytes hash to ${computed}`,
      );
    }
    return computed;
  }

  function parse(r: Fetched, where: string): { mediaType: string; manifests?: unknown[] } {
    let body: { mediaType?: string; manifests?: unknown[] };
    try {
      body = JSON.parse(r.bytes.toString('utf8')) as typeof body;
    } catch {
      throw new OciError('invalid', `manifest of ${where} is not JSON`);
    }
    const mediaType = body.mediaType ?? (r.headers.get('content-type') ?? '').split(';')[0]!.trim();
    return { mediaType, manifests: body.manifests };
  }

  return {
    /** Resolves the reference (tag or digest) to the linux/amd64 manifest digest. */
    async resolve(ref: ImageRef): Promise<ResolvedImage> {
      const reference = ref.digest ?? ref.tag ?? 'latest';
      const where = `${ref.registry}/${ref.repository}:${reference}`;
      const top = await getManifest(ref, reference);
      const tagDigest = digestOf(top, where);
      if (ref.digest && tagDigest !== ref.digest) {
        throw new OciError('invalid', `registry sent ${where} whose bytes hash to ${tagDigest}`);
      }
      const m = parse(top, where);
      if (m.mediaType !== MANIFEST_TYPES.ociIndex && m.mediaType !== MANIFEST_TYPES.dockerList) {
        return { digest: tagDigest, tagDigest, mediaType: m.mediaType, platform: null };
      }
      const entries = (Array.isArray(m.manifests) ? m.manifests : []) as {
        digest?: string;
        platform?: { os?: string; architecture?: string };
      }[];
      const amd64 = entries.find((e) => e.platform?.os === 'linux' && e.platform?.architecture === 'amd64');
      if (!amd64?.digest || !/^sha256:[a-f0-9]{64}$/.test(amd64.digest)) {
        const have = entries.map((e) => `${e.platform?.os}/${e.platform?.architecture}`).join(', ') || 'none';
        throw new OciError('invalid', `${where} has no linux/amd64 image (platforms: ${have})`);
      }
      const child = await getManifest(ref, amd64.digest);
      const digest = digestOf(child, `${where} (linux/amd64)`);
      if (digest !== amd64.digest) {
        throw new OciError('invalid', `registry sent the linux/amd64 manifest of ${where} with digest ${digest}`);
      }
      return { digest, tagDigest, mediaType: parse(child, where).mediaType, platform: 'linux/amd64' };
    },
  };
}

export type OciClient = ReturnType<typeof createOciClient>;
