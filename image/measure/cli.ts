/**
 * `image/expected-measurements`: the MRTD and RTMRs a built image will produce, computed from its files before any
 * VM boots, so its trust baseline can be reviewed and approved first (`ee measure` cross-checks on a TDX host).
 *
 *   image/expected-measurements --firmware OVMF.fd --image image/output --size tiny [--rtmr0 <hex>] [--events]
 *   image/expected-measurements --firmware OVMF.fd --kernel k --initrd i --cmdline '<full -append>'
 *   image/expected-measurements --firmware OVMF.fd --image image/output --bundle [--sizes tiny,standard,llm]
 *       [--rtmr0 tiny=<hex> …] [--release-tag v1.2.3 --git-sha <sha>]      # trust bundle (spec/image.md §4.2)
 *
 * One JSON document on stdout. Exit 0; 2 on bad usage; 1 when a file is not what it should be (the message says
 * which). RTMR0 needs QEMU's memory map and ACPI tables: it is whatever --rtmr0 says, else null.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { expectedMeasurements, measureCmdline, type Expected } from './expected';
import { PeError } from './pe';
import { FirmwareError } from './tdvf';

class UsageError extends Error {}

const HEX96 = /^[0-9a-f]{96}$/;

function pick(dir: string, names: string[]): string | null {
  for (const n of names) if (existsSync(join(dir, n))) return join(dir, n);
  return null;
}

export function run(
  argv: string[],
  env: Record<string, string | undefined>,
): { code: number; out: string; err: string } {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        firmware: { type: 'string' },
        image: { type: 'string' },
        kernel: { type: 'string' },
        initrd: { type: 'string' },
        cmdline: { type: 'string' },
        'cmdline-file': { type: 'string' },
        size: { type: 'string' },
        sizes: { type: 'string' },
        bundle: { type: 'boolean' },
        rtmr0: { type: 'string', multiple: true },
        events: { type: 'boolean' },
        'release-tag': { type: 'string' },
        'git-sha': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help) return { code: 0, out: `${HELP}\n`, err: '' };
    if (!values.firmware) throw new UsageError('--firmware <OVMF.fd> is required (the TDVF the host boots)');
    const read = (p: string, what: string) => {
      if (!existsSync(p)) throw new UsageError(`${what} not found: ${p}`);
      return readFileSync(p);
    };
    const dir = values.image;
    const kernelPath = values.kernel ?? (dir ? pick(dir, ['easyenclave.vmlinuz', 'vmlinuz']) : null);
    if (!kernelPath) throw new UsageError('--kernel (or --image <dir> with easyenclave.vmlinuz) is required');
    const initrdPath = values.initrd ?? (dir ? pick(dir, ['easyenclave.initrd', 'initrd']) : null);
    const cmdlineFile = values['cmdline-file'] ?? (dir ? pick(dir, ['easyenclave.cmdline', 'cmdline']) : null);
    const base = cmdlineFile ? read(cmdlineFile, 'cmdline file').toString('utf8').trim() : null;
    const files = {
      firmware: read(values.firmware, 'firmware'),
      kernel: read(kernelPath, 'kernel'),
      initrd: initrdPath ? read(initrdPath, 'initrd') : null,
    };
    const rtmr0s = new Map<string, string>();
    for (const r of values.rtmr0 ?? []) {
      const [k, v] = r.includes('=') ? [r.slice(0, r.indexOf('=')), r.slice(r.indexOf('=') + 1)] : ['*', r];
      if (!HEX96.test(v.toLowerCase())) throw new UsageError(`--rtmr0 must be 96 hex characters: ${r}`);
      rtmr0s.set(k, v.toLowerCase());
    }
    const view = (e: Expected) => (values.events ? e : { ...e, events: undefined });

    if (values.bundle) {
      if (values.cmdline) throw new UsageError('--bundle builds each size’s measure cmdline itself; drop --cmdline');
      const sizes = (values.sizes ?? 'tiny,standard,llm')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bySize: Record<string, Expected> = {};
      for (const s of sizes) {
        bySize[s] = expectedMeasurements(
          { ...files, cmdline: measureCmdline(base, s, env) },
          rtmr0s.get(s) ?? rtmr0s.get('*') ?? null,
        );
      }
      const first = bySize[sizes.includes('tiny') ? 'tiny' : sizes[0]!]!;
      const regs = (e: Expected) => ({ rtmr0: e.rtmr0, rtmr1: e.rtmr1, rtmr2: e.rtmr2, rtmr3: e.rtmr3 });
      const root = dir ? pick(dir, ['easyenclave.root.raw', 'root.raw']) : null;
      const bundle = {
        digest: root ? createHash('sha256').update(readFileSync(root)).digest('hex') : null,
        mrtd: first.mrtd,
        mrtds: [...new Set(Object.values(bySize).map((e) => e.mrtd))].sort().join(','),
        mrtds_by_size: Object.fromEntries(sizes.map((s) => [s, bySize[s]!.mrtd])),
        rtmrs: regs(first),
        rtmrs_by_size: Object.fromEntries(sizes.map((s) => [s, regs(bySize[s]!)])),
        source: 'computed',
        inputs: first.inputs,
        cmdlines_by_size: Object.fromEntries(sizes.map((s) => [s, bySize[s]!.cmdline])),
        ...(values['release-tag'] ? { release_tag: values['release-tag'] } : {}),
        ...(values['git-sha'] ? { git_sha: values['git-sha'] } : {}),
      };
      return { code: 0, out: `${JSON.stringify(bundle, null, 2)}\n`, err: rtmr0Note(rtmr0s, sizes) };
    }

    let cmdline: string;
    if (values.cmdline !== undefined) cmdline = values.cmdline;
    else if (values.size) cmdline = measureCmdline(base, values.size, env);
    else if (base !== null) cmdline = base;
    else throw new UsageError('give --cmdline, --size <node size> (the measure VM) or a cmdline file');
    const e = expectedMeasurements({ ...files, cmdline }, rtmr0s.get(values.size ?? '*') ?? rtmr0s.get('*') ?? null);
    return { code: 0, out: `${JSON.stringify(view(e), null, 2)}\n`, err: e.rtmr0 ? '' : rtmr0Note(rtmr0s, ['*']) };
  } catch (err) {
    if (err instanceof UsageError) return { code: 2, out: '', err: `expected-measurements: ${err.message}\n` };
    if (err instanceof FirmwareError || err instanceof PeError) {
      return { code: 1, out: '', err: `expected-measurements: ${err.message}\n` };
    }
    const m = (err as Error).message ?? String(err);
    return {
      code: /Unknown option|unexpected argument|argument missing|invalid node size/i.test(m) ? 2 : 1,
      out: '',
      err: `expected-measurements: ${m}\n`,
    };
  }
}

function rtmr0Note(given: Map<string, string>, sizes: string[]): string {
  const missing = sizes.filter((s) => !given.has(s) && !given.has('*'));
  return missing.length
    ? `note: rtmr0 is null for ${missing.join(', ')}: it depends on QEMU's memory map and ACPI tables; record it with \`ee measure\` on a TDX host and pass --rtmr0\n`
    : '';
}

const HELP = `usage: image/expected-measurements --firmware <OVMF.fd> (--image <dir> | --kernel <f> [--initrd <f>])
         [--cmdline '<full kernel cmdline>' | --cmdline-file <f> | --size tiny|standard|llm]
         [--rtmr0 [<size>=]<hex>] [--events] [--bundle [--sizes a,b] [--release-tag t] [--git-sha s]]
Prints the MRTD and RTMR1/RTMR2 the image will produce (RTMR0 as given). See image/MEASUREMENTS.md.`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = run(process.argv.slice(2), process.env);
  process.stdout.write(r.out);
  process.stderr.write(r.err);
  process.exitCode = r.code;
}
