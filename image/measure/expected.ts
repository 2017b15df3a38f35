/**
 * The measurements a built image will produce, from its files: MRTD from the firmware (tdvf.ts), RTMR1/RTMR2 from
 * kernel, initrd and the full kernel cmdline (rtmr.ts), RTMR0 as given (it needs QEMU), RTMR3 zero. Also the
 * measure VM's cmdline, built exactly as `ee measure` builds it, so a trust bundle can be computed per node size.
 */
import { createHash } from 'node:crypto';
import { buildCmdline, buildConfig, DEFAULT_BASE_CMDLINE } from '../../launcher/core/config';
import { parseNodeSize, presets } from '../../launcher/core/presets';
import { authenticodeDigest } from './pe';
import { bootEvents, replay, ZERO48, type CcEvent } from './rtmr';
import { computeMrtd } from './tdvf';

export interface ImageFiles {
  firmware: Buffer;
  kernel: Buffer;
  initrd: Buffer | null;
  /** The whole kernel cmdline QEMU passes with -append. */
  cmdline: string;
}

export interface Expected {
  mrtd: string;
  rtmr0: string | null;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  cmdline: string;
  events: CcEvent[];
  inputs: { firmware_sha256: string; kernel_sha256: string; initrd_sha256: string | null };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function expectedMeasurements(f: ImageFiles, rtmr0: string | null = null): Expected {
  const events = bootEvents({ kernelDigest: authenticodeDigest(f.kernel), cmdline: f.cmdline, initrd: f.initrd });
  const { rtmr1, rtmr2 } = replay(events);
  return {
    mrtd: computeMrtd(f.firmware),
    rtmr0,
    rtmr1,
    rtmr2,
    rtmr3: ZERO48,
    cmdline: f.cmdline,
    events,
    inputs: {
      firmware_sha256: sha256(f.firmware),
      kernel_sha256: sha256(f.kernel),
      initrd_sha256: f.initrd ? sha256(f.initrd) : null,
    },
  };
}

/** The -append of a measure VM of `size` (launcher: base cmdline + the fixed measure config). */
export function measureCmdline(
  baseCmdline: string | null,
  size: string,
  env: Record<string, string | undefined> = {},
): string {
  const nodeSize = parseNodeSize(size);
  return buildCmdline({
    base: baseCmdline?.trim() || DEFAULT_BASE_CMDLINE,
    config: buildConfig({ mode: 'measure', nodeSize, vmName: '', vmId: '' }, env),
    memoryMiB: presets(env)[nodeSize].memoryMiB,
  }).cmdline;
}
