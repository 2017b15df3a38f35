/**
 * RTMR1 and RTMR2 from the kernel, initrd and cmdline: the UEFI CC event log a TD's boot produces, replayed.
 * Each event extends one register: RTMR[i] = SHA-384(RTMR[i] ‖ digest), starting from 48 zero bytes. The PCR →
 * register mapping is the UEFI CC one (PCR 1,7 → RTMR0; 2–6 → RTMR1; 8–15 → RTMR2).
 *
 * The event sequence is a model of OVMF (TDVF) direct kernel boot (`qemu -kernel -initrd -append`) of a Linux
 * kernel with an EFI stub that measures its command line and initrd (Linux ≥ 6.1); image/MEASUREMENTS.md lists
 * every assumption. In order:
 *   RTMR1  EV_EFI_BOOT_SERVICES_APPLICATION  Authenticode SHA-384 of the kernel (LoadImage, before ReadyToBoot)
 *          EV_EFI_ACTION   "Calling EFI Application from Boot Option"
 *          EV_SEPARATOR    SHA-384 of the 4 bytes 00 00 00 00
 *          EV_EFI_ACTION   "Exit Boot Services Invocation"
 *          EV_EFI_ACTION   "Exit Boot Services Returned with Success"
 *   RTMR2  EV_EVENT_TAG    LoadOptions: SHA-384 of the cmdline as UTF-16LE with its NUL terminator, after OVMF
 *                          appended " initrd=initrd" (when there is an initrd) — the buffer the stub measures
 *          EV_EVENT_TAG    "Linux initrd": SHA-384 of the initrd file
 * RTMR0 (TD HOB, ACPI tables, CFV variables, boot order…) depends on QEMU's memory map and devices: it cannot be
 * computed from these files and is taken as an input (from `ee measure` on a TDX host). RTMR3 is never extended.
 */
import { createHash } from 'node:crypto';

export const ZERO48 = '00'.repeat(48);

export interface CcEvent {
  register: 'rtmr1' | 'rtmr2';
  type: string;
  description: string;
  digest: string;
}

export const sha384 = (b: Buffer | string) => createHash('sha384').update(b).digest('hex');

export function extend(register: string, digest: string): string {
  return sha384(Buffer.concat([Buffer.from(register, 'hex'), Buffer.from(digest, 'hex')]));
}

/** The cmdline as the kernel's EFI stub finds it in LoadOptions (OVMF's QEMU kernel loader). */
export function loadOptions(cmdline: string, hasInitrd: boolean): Buffer {
  const full = hasInitrd ? `${cmdline} initrd=initrd` : cmdline;
  return Buffer.from(`${full}\0`, 'utf16le');
}

export function bootEvents(input: { kernelDigest: string; cmdline: string; initrd: Buffer | null }): CcEvent[] {
  const action = (text: string): CcEvent => ({
    register: 'rtmr1',
    type: 'EV_EFI_ACTION',
    description: text,
    digest: sha384(text),
  });
  const events: CcEvent[] = [
    {
      register: 'rtmr1',
      type: 'EV_EFI_BOOT_SERVICES_APPLICATION',
      description: 'kernel (Authenticode SHA-384)',
      digest: input.kernelDigest,
    },
    action('Calling EFI Application from Boot Option'),
    { register: 'rtmr1', type: 'EV_SEPARATOR', description: 'separator', digest: sha384(Buffer.alloc(4)) },
    action('Exit Boot Services Invocation'),
    action('Exit Boot Services Returned with Success'),
    {
      register: 'rtmr2',
      type: 'EV_EVENT_TAG',
      description: 'LOADED_IMAGE::LoadOptions (kernel cmdline, UTF-16LE)',
      digest: sha384(loadOptions(input.cmdline, input.initrd !== null)),
    },
  ];
  if (input.initrd) {
    events.push({ register: 'rtmr2', type: 'EV_EVENT_TAG', description: 'Linux initrd', digest: sha384(input.initrd) });
  }
  return events;
}

export function replay(events: CcEvent[]): { rtmr1: string; rtmr2: string } {
  const r = { rtmr1: ZERO48, rtmr2: ZERO48 };
  for (const e of events) r[e.register] = extend(r[e.register], e.digest);
  return r;
}
