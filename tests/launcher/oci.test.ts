/**
 * OCI image extraction through the Distribution API against a local registry fake (bearer-token challenge, image
 * index → linux/amd64 manifest → gzip layer): `ee launch <registry>/<repo>:<tag>` boots from the unpacked cache,
 * a second launch reuses it, a digest mismatch and an unknown tag fail with their exit codes.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startFakeRegistry, type FakeRegistry } from '../fakes/oci-registry';
import { argAfter, launcherEnv, type LauncherEnv } from './helpers';

let t: LauncherEnv;
let reg: FakeRegistry;
beforeEach(async () => {
  t = launcherEnv();
  reg = await startFakeRegistry();
});
afterEach(async () => {
  await t.run(['rm', 'all', '--timeout', '2']);
  await reg.close();
  t.close();
});

it('pulls, verifies and unpacks the image into the cache, boots from it, and reuses the cache', async () => {
  const ref = `${reg.host}/ee/image:1`;
  const r = await t.run(['launch', ref, '--no-tdx', '--json']);
  expect(r.stderr).toContain('extracting layer 1/1 sha256:');
  expect(r.code).toBe(0);
  expect(r.json().image).toBe(ref);
  const argv = t.qemu.boots()[0]!;
  const kernel = argAfter(argv, '-kernel')[0]!;
  expect(kernel).toMatch(new RegExp(`^${t.env.EE_STATE_DIR}/images/sha256-[0-9a-f]{64}/easyenclave\\.vmlinuz$`));
  expect(readFileSync(kernel, 'utf8')).toBe('oci kernel');
  expect(argAfter(argv, '-append')[0]).toMatch(/^console=ttyS0 from-oci easyenclave\.config/);

  expect((await t.run(['launch', ref, '--no-tdx'])).code).toBe(0);
  expect(reg.blobFetches).toBe(1);
  expect(argAfter(t.qemu.boots()[1]!, '-kernel')).toEqual([kernel]);
});

it('a layer whose bytes do not match its digest → 1; an unknown tag → 4', async () => {
  reg.corruptLayer();
  const bad = await t.run(['launch', `${reg.host}/ee/image:1`, '--no-tdx']);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/error: layer sha256:[0-9a-f]{64} of .* has digest sha256:/);
  const missing = await t.run(['launch', `${reg.host}/ee/image:2`, '--no-tdx']);
  expect(missing.code).toBe(4);
  expect(missing.stderr).toContain('answered 404');
  expect(t.qemu.boots()).toEqual([]);
});
