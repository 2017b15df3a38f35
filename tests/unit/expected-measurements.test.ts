/**
 * image/expected-measurements: the committed fixtures (a synthetic TDVF firmware with a real OVMF GUIDed table and
 * TDVF metadata, a tiny PE32+ kernel, a newc initrd) reproduce the values image/tests/expected.json records, which
 * the separate Python reference (image/tests/reference_measurements.py) computed and still computes; each input
 * moves only the register spec/image.md §4.1 says it feeds; the Authenticode hash equals the digest signed into
 * Debian's cloud kernel (osslsigncode); Debian's real OVMF parses and both implementations agree on its MRTD; and
 * the measure VM's cmdline is byte for byte the one `ee measure` boots.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { measureCmdline, expectedMeasurements } from '../../image/measure/expected';
import { run } from '../../image/measure/cli';
import { authenticodeDigest } from '../../image/measure/pe';
import { ATTR_MR_EXTEND, SectionType, parseTdvfMetadata } from '../../image/measure/tdvf';
import { launcherEnv } from '../launcher/helpers';

const ROOT = new URL('../..', import.meta.url).pathname;
const FX = join(ROOT, 'image/tests/fixtures');
const expected = JSON.parse(readFileSync(join(ROOT, 'image/tests/expected.json'), 'utf8')) as {
  cases: Record<string, { mrtd: string; rtmr1: string; rtmr2: string; cmdline: string }>;
};
const fx = (name: string) => readFileSync(join(FX, name));
const files = () => ({ firmware: fx('OVMF.fd'), kernel: fx('vmlinuz'), initrd: fx('initrd') });
const tmp = mkdtempSync(join(tmpdir(), 'expected-measurements-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function python(dir: string, cmdline: string): { mrtd: string; rtmr1: string; rtmr2: string } {
  const out = execFileSync('python3', [join(ROOT, 'image/tests/reference_measurements.py'), dir, '--cmdline', cmdline]);
  return JSON.parse(out.toString());
}

describe('expected measurements of the committed fixtures', () => {
  it.each(Object.keys(expected.cases))('case %s: the CLI reproduces the recorded MRTD/RTMR1/RTMR2', (name) => {
    const c = expected.cases[name]!;
    const r = run(
      [
        '--firmware',
        join(FX, 'OVMF.fd'),
        '--kernel',
        join(FX, 'vmlinuz'),
        '--initrd',
        join(FX, 'initrd'),
        '--cmdline',
        c.cmdline,
      ],
      {},
    );
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      mrtd: c.mrtd,
      rtmr1: c.rtmr1,
      rtmr2: c.rtmr2,
      rtmr3: '00'.repeat(48),
      rtmr0: null,
    });
    expect(r.err).toContain('rtmr0 is null');
  });

  it('the Python reference still computes the recorded values (the record is not stale)', () => {
    for (const c of Object.values(expected.cases))
      expect(python(FX, c.cmdline)).toMatchObject({ mrtd: c.mrtd, rtmr1: c.rtmr1, rtmr2: c.rtmr2 });
  });

  it('the executable wrapper prints the same document from an image dir (base cmdline file), with the events', () => {
    const dir = join(tmp, 'image');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'easyenclave.vmlinuz'), fx('vmlinuz'));
    writeFileSync(join(dir, 'easyenclave.initrd'), fx('initrd'));
    writeFileSync(join(dir, 'easyenclave.cmdline'), fx('cmdline'));
    const r = spawnSync(join(ROOT, 'image/expected-measurements'), [
      '--firmware',
      join(FX, 'OVMF.fd'),
      '--image',
      dir,
      '--events',
      '--rtmr0',
      'ee'.repeat(48),
    ]);
    expect(r.status, r.stderr.toString()).toBe(0);
    const doc = JSON.parse(r.stdout.toString());
    expect(doc).toMatchObject({ ...expected.cases.base, rtmr0: 'ee'.repeat(48) });
    expect(doc.events.map((e: { register: string; type: string }) => `${e.register}:${e.type}`)).toEqual([
      'rtmr1:EV_EFI_BOOT_SERVICES_APPLICATION',
      'rtmr1:EV_EFI_ACTION',
      'rtmr1:EV_SEPARATOR',
      'rtmr1:EV_EFI_ACTION',
      'rtmr1:EV_EFI_ACTION',
      'rtmr2:EV_EVENT_TAG',
      'rtmr2:EV_EVENT_TAG',
    ]);
  });
});

describe('what feeds which register (spec/image.md §4.1)', () => {
  const base = expected.cases.base!;

  it('a changed kernel cmdline (one more character, or the per-VM config) changes RTMR2 only', () => {
    const a = expectedMeasurements({ ...files(), cmdline: base.cmdline });
    const b = expectedMeasurements({ ...files(), cmdline: `${base.cmdline} ` });
    const c = expectedMeasurements({ ...files(), cmdline: base.cmdline.replace('roothash=ab', 'roothash=ac') });
    for (const x of [b, c]) {
      expect(x.mrtd).toBe(a.mrtd);
      expect(x.rtmr1).toBe(a.rtmr1);
      expect(x.rtmr2).not.toBe(a.rtmr2);
    }
    expect(b.rtmr2).not.toBe(c.rtmr2);
    expect(expected.cases['with-config']!.rtmr2).not.toBe(base.rtmr2);
    // The Python reference agrees on the changed one too.
    expect(python(FX, `${base.cmdline} `).rtmr2).toBe(b.rtmr2);
  });

  it('the initrd feeds RTMR2, the kernel RTMR1 (not its CheckSum field), the firmware MRTD', () => {
    const a = expectedMeasurements({ ...files(), cmdline: base.cmdline });
    const initrd = Buffer.concat([fx('initrd'), Buffer.from([0])]);
    const i = expectedMeasurements({ ...files(), initrd, cmdline: base.cmdline });
    expect([i.mrtd, i.rtmr1, i.rtmr2 === a.rtmr2]).toEqual([a.mrtd, a.rtmr1, false]);

    const kernel = Buffer.from(fx('vmlinuz'));
    kernel[0x250] = kernel[0x250]! ^ 0xff; // inside .text
    const k = expectedMeasurements({ ...files(), kernel, cmdline: base.cmdline });
    expect([k.mrtd, k.rtmr1 === a.rtmr1, k.rtmr2]).toEqual([a.mrtd, false, a.rtmr2]);
    const sum = Buffer.from(fx('vmlinuz'));
    sum.writeUInt32LE(0x12345678, 0x80 + 24 + 64); // the CheckSum is not hashed
    expect(expectedMeasurements({ ...files(), kernel: sum, cmdline: base.cmdline }).rtmr1).toBe(a.rtmr1);

    const firmware = Buffer.from(fx('OVMF.fd'));
    firmware[100] = firmware[100]! ^ 0xff; // inside the MR.EXTEND section
    const f = expectedMeasurements({ ...files(), firmware, cmdline: base.cmdline });
    expect([f.mrtd === a.mrtd, f.rtmr1, f.rtmr2]).toEqual([false, a.rtmr1, a.rtmr2]);
    const outside = Buffer.from(fx('OVMF.fd'));
    outside[0x3000] = outside[0x3000]! ^ 0xff; // file bytes no section maps
    expect(expectedMeasurements({ ...files(), firmware: outside, cmdline: base.cmdline }).mrtd).toBe(a.mrtd);
  });

  it('a file that is not TDVF firmware or not PE fails with a readable message (exit 1)', () => {
    const notFw = join(tmp, 'not-ovmf.fd');
    writeFileSync(notFw, Buffer.alloc(8192));
    const r = run(['--firmware', notFw, '--kernel', join(FX, 'vmlinuz'), '--cmdline', 'x'], {});
    expect(r).toMatchObject({
      code: 1,
      err: 'expected-measurements: not a TDVF image: no TDVF metadata (signature "TDVF") found\n',
    });
    const r2 = run(['--firmware', join(FX, 'OVMF.fd'), '--kernel', join(FX, 'initrd'), '--cmdline', 'x'], {});
    expect(r2).toMatchObject({ code: 1, err: 'expected-measurements: not a PE image (no MZ header)\n' });
    expect(run(['--kernel', 'k'], {}).code).toBe(2);
    expect(run(['--firmware', join(FX, 'OVMF.fd'), '--bogus'], {}).code).toBe(2);
  });
});

describe('against real artefacts on this machine', () => {
  it('the Authenticode SHA-256 of Debian’s signed cloud kernel equals the digest in its own signature (osslsigncode)', () => {
    const kernel = readdirSync('/boot').find((f) => /^vmlinuz-.*-cloud-amd64$/.test(f));
    expect(kernel, 'linux-image-cloud-amd64 (installed by .ci/run)').toBeTruthy();
    const path = join('/boot', kernel!);
    // verify exits 1 here (Debian's signing CA is not in its trust store); the digests it prints are what count.
    const out = spawnSync('osslsigncode', ['verify', '-in', path]).stdout.toString();
    const signed = /Current message digest\s*:\s*([0-9A-F]+)/.exec(out)?.[1]?.toLowerCase();
    expect(signed).toMatch(/^[0-9a-f]{64}$/);
    expect(authenticodeDigest(readFileSync(path), 'sha256')).toBe(signed);
  });

  it('Debian’s OVMF carries TDVF metadata; both implementations agree on its MRTD', () => {
    const fw = readFileSync('/usr/share/ovmf/OVMF.fd');
    const sections = parseTdvfMetadata(fw);
    expect(sections.some((s) => s.type === SectionType.BFV && s.attributes & ATTR_MR_EXTEND)).toBe(true);
    expect(sections.some((s) => s.type === SectionType.TD_HOB)).toBe(true);
    const dir = join(tmp, 'real');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'OVMF.fd'), fw);
    writeFileSync(join(dir, 'vmlinuz'), fx('vmlinuz'));
    writeFileSync(join(dir, 'initrd'), fx('initrd'));
    const ts = expectedMeasurements({
      firmware: fw,
      kernel: fx('vmlinuz'),
      initrd: fx('initrd'),
      cmdline: 'console=ttyS0',
    });
    expect(python(dir, 'console=ttyS0')).toMatchObject({ mrtd: ts.mrtd, rtmr1: ts.rtmr1, rtmr2: ts.rtmr2 });
  });

  it('the measure VM cmdline is exactly the -append `ee measure` boots with', async () => {
    const t = launcherEnv();
    try {
      const r = await t.run(['measure', t.image, '--node-size', 'standard', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const argv = t.qemu.boots().at(-1)!;
      const append = argv[argv.indexOf('-append') + 1];
      expect(append).toBe(measureCmdline(readFileSync(join(t.image, 'easyenclave.cmdline'), 'utf8'), 'standard'));
    } finally {
      t.close();
    }
  });

  it('--bundle writes a trust bundle in the release format, per size, with rtmr0 where given', () => {
    const r = run(
      [
        '--firmware',
        join(FX, 'OVMF.fd'),
        '--kernel',
        join(FX, 'vmlinuz'),
        '--initrd',
        join(FX, 'initrd'),
        '--cmdline-file',
        join(FX, 'cmdline'),
        '--bundle',
        '--rtmr0',
        `tiny=${'0a'.repeat(48)}`,
        '--release-tag',
        'v9',
      ],
      {},
    );
    expect(r.code, r.err).toBe(0);
    const b = JSON.parse(r.out);
    expect(Object.keys(b.rtmrs_by_size)).toEqual(['tiny', 'standard', 'llm']);
    expect(b.mrtds).toBe(expected.cases.base!.mrtd);
    expect(b.rtmrs).toMatchObject({ rtmr0: '0a'.repeat(48), rtmr1: expected.cases.base!.rtmr1 });
    expect(b.rtmrs_by_size.standard.rtmr0).toBeNull();
    // Each size's measure config differs, so each RTMR2 does.
    expect(new Set(Object.values(b.rtmrs_by_size).map((x: any) => x.rtmr2)).size).toBe(3);
    expect(b.release_tag).toBe('v9');
    expect(r.err).toContain('rtmr0 is null for standard, llm');
  });
});
