/**
 * `ee measure --expected`: the hardware's measurements (here the fake QEMU's measure guest) checked against what
 * image/expected-measurements computed — a single document or a trust bundle (per node size). A mismatch exits 1
 * naming each register and never approves the MRTD.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAKE_MRTD } from '../fakes/qemu';
import { launcherEnv, type LauncherEnv } from './helpers';

let t: LauncherEnv;
beforeEach(() => {
  t = launcherEnv();
});
afterEach(() => t.close());

const fake = { mrtd: FAKE_MRTD, rtmr0: '00'.repeat(48), rtmr1: '11'.repeat(48), rtmr2: '22'.repeat(48) };

describe('ee measure --expected', () => {
  it('passes when MRTD/RTMR1/RTMR2 match a computed document (RTMR0 null is not compared)', async () => {
    const file = join(t.dir, 'expected.json');
    writeFileSync(file, JSON.stringify({ ...fake, rtmr0: null }));
    const r = await t.run(['measure', t.image, '--expected', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ mrtd: FAKE_MRTD, expected: 'match' });
  });

  it('fails on a differing RTMR2 of the size measured in a trust bundle, naming the register', async () => {
    const file = join(t.dir, 'bundle.json');
    writeFileSync(
      file,
      JSON.stringify({
        mrtds_by_size: { tiny: FAKE_MRTD, standard: FAKE_MRTD },
        rtmrs_by_size: { tiny: { ...fake, rtmr2: '33'.repeat(48) }, standard: fake },
      }),
    );
    const bad = await t.run(['measure', t.image, '--node-size', 'tiny', '--expected', file, '--json']);
    expect(bad.code).toBe(1);
    expect(bad.json().error).toBe(
      `measurements differ from ${file}:\n  rtmr2: measured ${'22'.repeat(48)}, expected ${'33'.repeat(48)}`,
    );
    const good = await t.run(['measure', t.image, '--node-size', 'standard', '--expected', file]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain(`matches ${file}`);
    const unreadable = await t.run(['measure', t.image, '--expected', join(t.dir, 'nope.json')]);
    expect(unreadable.code).toBe(2);
  });
});
