/**
 * Compose files and image references of the app catalog, without I/O: parse a compose (the `yaml` library, never
 * regexes), list the images of its services, parse each image reference the way the Docker CLI does (Docker Hub
 * default with `library/`, registry hosts with ports, tags, digests) and rewrite a compose so every image is pinned
 * to `repository@sha256:…`. The API uses it to refuse bad input before anything is written; the measurement
 * activities use it on the stored compose.
 */
import { createHash } from 'node:crypto';
import { parseDocument, isMap, isScalar } from 'yaml';

export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** A parsed image reference. `registry` is the host[:port] the Distribution API is called on. */
export interface ImageRef {
  /** As written in the compose, trimmed. */
  original: string;
  registry: string;
  /** Repository path on that registry (`library/nginx`, `org/app`). */
  repository: string;
  /** Tag, or null when only a digest was given. */
  tag: string | null;
  /** `sha256:<64 hex>` when the reference is already pinned. */
  digest: string | null;
}

export class ComposeError extends Error {
  override readonly name = 'ComposeError';
}

// The reference grammar of distribution/reference (docker/distribution/reference/regexp.go), anchored.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_RE =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** Parses one image reference; throws ComposeError with a message a person can act on. */
export function parseImageRef(input: string): ImageRef {
  const original = input.trim();
  const fail = (why: string) => new ComposeError(`image reference '${original}' cannot be parsed: ${why}`);
  if (original === '') throw new ComposeError('image reference is empty');
  if (/\s/.test(original)) throw fail('it contains whitespace');
  if (original.includes('${') || original.includes('$')) {
    throw fail('variable interpolation is not supported in catalog composes; write the image out');
  }
  let rest = original;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw fail('the digest must be sha256:<64 lowercase hex>');
  }
  let tag: string | null = null;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw fail(`tag '${tag}' is not a valid tag`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB_REGISTRY;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!DOMAIN_RE.test(first)) throw fail(`registry host '${first}' is not a valid host[:port]`);
    registry = DOCKER_HUB_NAMES.has(first.toLowerCase()) ? DOCKER_HUB_REGISTRY : first;
    parts.shift();
  }
  let repository = parts.join('/');
  if (registry === DOCKER_HUB_REGISTRY && parts.length === 1) repository = `library/${repository}`;
  if (!PATH_RE.test(repository)) {
    throw fail(`repository '${repository}' must be lowercase letters, digits and separators (. _ - /)`);
  }
  if (tag === null && digest === null) tag = 'latest';
  return { original, registry, repository, tag, digest };
}

/** `registry/repository` as a person (and docker) writes it: Docker Hub as `docker.io`. */
export function repositoryName(ref: Pick<ImageRef, 'registry' | 'repository'>): string {
  const host = ref.registry === DOCKER_HUB_REGISTRY ? 'docker.io' : ref.registry;
  return `${host}/${ref.repository}`;
}

/** The pinned form deploys send: `registry/repository@sha256:…`. */
export function pinnedRef(ref: Pick<ImageRef, 'registry' | 'repository'>, digest: string): string {
  return `${repositoryName(ref)}@${digest}`;
}

export interface ComposeService {
  service: string;
  /** null for a build-only service. */
  image: ImageRef | null;
}

export interface ParsedCompose {
  /** The YAML text. */
  text: string;
  /** sha256 hex of the decoded bytes. */
  hash: string;
  services: ComposeService[];
}

/** Decodes a compose given as text or base64 (as v1's SDK and actions send it). */
export function decodeCompose(input: string): string {
  const trimmed = input.trim();
  if (/^[A-Za-z0-9+/=\r\n]+$/.test(trimmed) && !trimmed.includes(':')) {
    return Buffer.from(trimmed, 'base64').toString('utf8');
  }
  return input;
}

/** Largest compose (decoded) a deploy or an app version accepts. */
export const MAX_COMPOSE_BYTES = 1024 * 1024;

/**
 * A deploy's compose as stored: base64 of the trimmed, decoded text, after checking its size and that it has a
 * top-level `services` key (a light check on purpose: a deploy runs any compose docker accepts). Throws
 * ComposeError with the message the API answers 422 with.
 */
export function normalizeDeployCompose(input: string): string {
  const text = decodeCompose(input.trim());
  if (Buffer.byteLength(text) > MAX_COMPOSE_BYTES) throw new ComposeError(`compose exceeds ${MAX_COMPOSE_BYTES} bytes`);
  if (!/^services\s*:/m.test(text)) {
    throw new ComposeError("compose must be a docker compose file with a top-level 'services' key");
  }
  return Buffer.from(text, 'utf8').toString('base64');
}

/** Parses a compose text: YAML, a `services` mapping, every `image` a parseable reference. Throws ComposeError. */
export function parseCompose(text: string): ParsedCompose {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ComposeError(`compose is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  }
  const root: unknown = doc.toJS({ maxAliasCount: 100 });
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw new ComposeError('compose must be a YAML mapping with a top-level services key');
  }
  const services = (root as Record<string, unknown>).services;
  if (typeof services !== 'object' || services === null || Array.isArray(services)) {
    throw new ComposeError("compose must have a top-level 'services' mapping");
  }
  const out: ComposeService[] = [];
  for (const [service, def] of Object.entries(services as Record<string, unknown>)) {
    if (typeof def !== 'object' || def === null || Array.isArray(def)) {
      throw new ComposeError(`service ${service}: must be a mapping`);
    }
    const image = (def as Record<string, unknown>).image;
    if (image === undefined || image === null) {
      if ((def as Record<string, unknown>).build === undefined) {
        throw new ComposeError(`service ${service}: has neither an image nor a build section`);
      }
      out.push({ service, image: null });
      continue;
    }
    if (typeof image !== 'string') throw new ComposeError(`service ${service}: image must be a string`);
    try {
      out.push({ service, image: parseImageRef(image) });
    } catch (err) {
      throw new ComposeError(`service ${service}: ${(err as Error).message}`);
    }
  }
  if (out.length === 0) throw new ComposeError('compose defines no services');
  return { text, hash: createHash('sha256').update(text, 'utf8').digest('hex'), services: out };
}

/**
 * The compose with each listed service's image replaced by its pinned reference; everything else (comments,
 * order, other keys) is kept. Throws ComposeError when a service to pin has no image.
 */
export function pinCompose(text: string, pins: Record<string, string>): string {
  const doc = parseDocument(text);
  const services = doc.get('services');
  if (!isMap(services)) throw new ComposeError("compose must have a top-level 'services' mapping");
  for (const [service, ref] of Object.entries(pins)) {
    const def = services.get(service);
    if (!isMap(def) || !isScalar(def.get('image', true))) throw new ComposeError(`service ${service}: no image`);
    def.set('image', ref);
  }
  return doc.toString();
}
