/**
 * The OCI Distribution client against the real docker-registry (and the gate in front of it for token auth and a
 * lying Docker-Content-Digest): what it must refuse, with the error kind the measurement activity maps to a
 * retryable or non-retryable failure.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OciError, createOciClient } from '../../activities/oci-client';
import { parseImageRef } from '../../core/compose';
import { startRegistryGate, type RegistryGate } from '../fakes/registry-gate';
import { startRegistry, type TestRegistry } from '../helpers/oci-registry';

describe('OCI client', () => {
  let registry: TestRegistry;
  let gate: RegistryGate;
  const client = () => createOciClient({ insecureRegistries: [registry.host, gate.host], timeoutMs: 5000 });
  const kind = (p: Promise<unknown>) =>
    p.then(
      () => 'resolved',
      (e: unknown) => (e instanceof OciError ? e.kind : `other: ${String(e)}`),
    );

  beforeAll(async () => {
    registry = await startRegistry();
    gate = await startRegistryGate(registry.host);
  });
  afterAll(async () => {
    await gate?.close();
    await registry?.stop();
  });
  beforeEach(() => {
    gate.requireToken = null;
    gate.tokenOverride = null;
    gate.lieDigest = null;
    gate.failNext(0);
  });

  it('resolves a tag, a digest and a multi-arch index (to linux/amd64)', async () => {
    const single = await registry.push('lib/one', '1');
    const multi = await registry.push('lib/multi', '1', { multiArch: true });
    expect(await client().resolve(parseImageRef(`${registry.host}/lib/one:1`))).toMatchObject({
      digest: single.digest,
      platform: null,
    });
    expect(await client().resolve(parseImageRef(`${registry.host}/lib/one@${single.digest}`))).toMatchObject({
      digest: single.digest,
    });
    expect(await client().resolve(parseImageRef(`${registry.host}/lib/multi:1`))).toEqual({
      digest: multi.digest,
      tagDigest: multi.tagDigest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      platform: 'linux/amd64',
    });
  });

  it('refuses bytes that do not match Docker-Content-Digest', async () => {
    await registry.push('lib/liar', '1');
    gate.lieDigest = `sha256:${'0'.repeat(64)}`;
    const err = await client()
      .resolve(parseImageRef(`${gate.host}/lib/liar:1`))
      .catch((e: unknown) => e as OciError);
    expect(err).toBeInstanceOf(OciError);
    expect((err as OciError).kind).toBe('invalid');
    expect((err as OciError).message).toMatch(/Docker-Content-Digest sha256:0{64} but the bytes hash to sha256:/);
  });

  it('maps 404 → not_found, a refused token → unauthorized, 5xx and no listener → unavailable', async () => {
    expect(await kind(client().resolve(parseImageRef(`${registry.host}/lib/none:1`)))).toBe('not_found');
    await registry.push('lib/private', '1');
    gate.requireToken = 'right';
    gate.tokenOverride = 'wrong';
    expect(await kind(client().resolve(parseImageRef(`${gate.host}/lib/private:1`)))).toBe('unauthorized');
    gate.tokenOverride = null;
    expect(await kind(client().resolve(parseImageRef(`${gate.host}/lib/private:1`)))).toBe('resolved');
    gate.requireToken = null;
    gate.failNext(1, 503);
    expect(await kind(client().resolve(parseImageRef(`${gate.host}/lib/private:1`)))).toBe('unavailable');
    expect(
      await kind(createOciClient({ insecureRegistries: ['127.0.0.1:9'] }).resolve(parseImageRef('127.0.0.1:9/a:1'))),
    ).toBe('unavailable');
  });
});
