import { describe, expect, it } from 'vitest';
import { ComposeError, decodeCompose, parseCompose, parseImageRef, pinCompose, pinnedRef } from '../../core/compose';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageRef', () => {
  it.each([
    ['nginx', { registry: 'registry-1.docker.io', repository: 'library/nginx', tag: 'latest', digest: null }],
    ['nginx:1.27', { registry: 'registry-1.docker.io', repository: 'library/nginx', tag: '1.27', digest: null }],
    ['docker.io/nginx', { registry: 'registry-1.docker.io', repository: 'library/nginx', tag: 'latest' }],
    ['org/app:v2', { registry: 'registry-1.docker.io', repository: 'org/app', tag: 'v2' }],
    ['ghcr.io/x/y:1.2', { registry: 'ghcr.io', repository: 'x/y', tag: '1.2' }],
    ['localhost:5000/a/b', { registry: 'localhost:5000', repository: 'a/b', tag: 'latest' }],
    ['127.0.0.1:5000/a', { registry: '127.0.0.1:5000', repository: 'a', tag: 'latest' }],
    [`ghcr.io/x/y@${D}`, { registry: 'ghcr.io', repository: 'x/y', tag: null, digest: D }],
    [`ghcr.io/x/y:1@${D}`, { registry: 'ghcr.io', repository: 'x/y', tag: '1', digest: D }],
    ['  quay.io/a/b-c_d.e:tag-1  ', { registry: 'quay.io', repository: 'a/b-c_d.e', tag: 'tag-1' }],
  ])('%s', (input, want) => {
    expect(parseImageRef(input)).toMatchObject(want);
  });

  it.each([
    ['', /empty/],
    ['Not/Upper', /lowercase/],
    ['a b', /whitespace/],
    ['x/y@sha256:abc', /digest must be sha256/],
    ['x/y:bad tag', /whitespace/],
    ['x/y:-lead', /tag '-lead'/],
    ['${REGISTRY}/app:1', /interpolation/],
    ['ghcr.io/', /repository ''/],
    ['a//b', /repository/],
  ])('refuses %j', (input, why) => {
    expect(() => parseImageRef(input)).toThrow(why);
  });

  it('pins to registry/repository@digest, Docker Hub as docker.io', () => {
    expect(pinnedRef(parseImageRef('nginx:1'), D)).toBe(`docker.io/library/nginx@${D}`);
    expect(pinnedRef(parseImageRef('localhost:5000/a:1'), D)).toBe(`localhost:5000/a@${D}`);
  });
});

describe('parseCompose / pinCompose', () => {
  const text =
    '# keep me\nservices:\n  web:\n    image: ghcr.io/x/web:1 # pinned later\n    ports: ["8080:8080"]\n  builder:\n    build: .\n';

  it('lists services with their images (build-only services without one) and hashes the text', () => {
    const c = parseCompose(text);
    expect(c.services.map((s) => [s.service, s.image?.repository ?? null])).toEqual([
      ['web', 'x/web'],
      ['builder', null],
    ]);
    expect(c.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses what is not a compose', () => {
    expect(() => parseCompose('services: [a, b')).toThrow(/not valid YAML/);
    expect(() => parseCompose('- a\n- b\n')).toThrow(ComposeError);
    expect(() => parseCompose('version: "3"\n')).toThrow(/top-level 'services'/);
    expect(() => parseCompose('services:\n  a: 1\n')).toThrow(/service a: must be a mapping/);
    expect(() => parseCompose('services:\n  a:\n    ports: []\n')).toThrow(/neither an image nor a build/);
    expect(() => parseCompose('services:\n  a:\n    image: [x]\n')).toThrow(/image must be a string/);
    expect(() => parseCompose('services:\n  a:\n    image: x\n  a:\n    image: y\n')).toThrow(/not valid YAML/);
  });

  it('rewrites only the images, keeping comments and other keys', () => {
    const out = pinCompose(text, { web: `ghcr.io/x/web@${D}` });
    expect(out).toContain(`image: ghcr.io/x/web@${D}`);
    expect(out).toContain('# keep me');
    expect(out).toContain('8080:8080');
    expect(parseCompose(out).services[0]!.image!.digest).toBe(D);
  });

  it('decodes base64 composes and leaves text alone', () => {
    expect(decodeCompose(Buffer.from(text).toString('base64'))).toBe(text);
    expect(decodeCompose(text)).toBe(text);
  });
});
