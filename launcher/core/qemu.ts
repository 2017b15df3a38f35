/**
 * QEMU command line of one VM (launcher.md §4.3: the raw-QEMU equivalent of v1's libvirt TDX domain). Pure.
 *
 * TDX: KVM, q35 with split irqchip and no HPET, a `tdx-guest` object (SEPT #VE disabled, quotes through the host
 * QGS at vsock CID 2 port 4050), the TDVF firmware as -bios, host CPU, a vsock device. `--no-tdx` keeps the same
 * disks, NICs and serial log but drops the TDX object, the firmware and vsock, and runs under KVM when the host has
 * it, else TCG (CI, laptops).
 */
import { formatMemory, type Sizing } from './presets';

export const DEFAULT_QEMU = 'qemu-system-x86_64';
export const DEFAULT_FIRMWARE = '/usr/share/qemu/OVMF.fd';

export interface QemuPlan {
  name: string;
  sizing: Sizing;
  tdx: boolean;
  /** Accelerator: TDX always uses kvm. */
  accel: 'kvm' | 'tcg';
  kernel: string;
  initrd: string;
  cmdline: string;
  /** Read-only verity root (virtio vda); absent for kernel+initrd-only images. */
  rootDisk?: string;
  /** qcow2 data disk (virtio vdb, writeback). */
  dataDisk?: string;
  /** Config-drive ISO (SATA cdrom, read-only) when the config did not fit the cmdline. */
  configIso?: string;
  serialLog: string;
  /** Host port forwarded to the agent API (guest :8081) on the user-mode NIC. */
  agentPort?: number;
  firmware?: string;
  /** Unique vsock guest CID (>= 3). */
  vsockCid?: number;
}

export function composeQemuArgs(p: QemuPlan): string[] {
  const { memoryMiB, vcpus } = p.sizing;
  const machine = p.tdx ? 'q35,kernel-irqchip=split,confidential-guest-support=tdx0,hpet=off' : 'q35,hpet=off';
  const args = ['-name', `${p.name},process=ee-${p.name}`, '-accel', p.tdx ? 'kvm' : p.accel, '-machine', machine];
  if (p.tdx) {
    args.push(
      '-object',
      'tdx-guest,id=tdx0,sept-ve-disable=on,quote-generation-socket.type=vsock,' +
        'quote-generation-socket.cid=2,quote-generation-socket.port=4050',
      '-bios',
      p.firmware ?? DEFAULT_FIRMWARE,
    );
  } else if (p.firmware) {
    args.push('-bios', p.firmware);
  }
  args.push(
    '-m',
    formatMemory(memoryMiB),
    '-cpu',
    p.tdx || p.accel === 'kvm' ? 'host' : 'max',
    '-smp',
    `${vcpus},sockets=1,cores=${vcpus},threads=1`,
    '-kernel',
    p.kernel,
    '-initrd',
    p.initrd,
    '-append',
    p.cmdline,
  );
  if (p.rootDisk) {
    args.push('-drive', `file=${p.rootDisk},if=none,id=root,format=raw,readonly=on,cache=none`);
    args.push('-device', 'virtio-blk-pci,drive=root');
  }
  if (p.dataDisk) {
    args.push('-drive', `file=${p.dataDisk},if=none,id=data,format=qcow2,cache=writeback`);
    args.push('-device', 'virtio-blk-pci,drive=data');
  }
  if (p.configIso) {
    args.push('-drive', `file=${p.configIso},if=none,id=cidata,media=cdrom,readonly=on`);
    args.push('-device', 'ide-cd,drive=cidata,bus=ide.0');
  }
  const fwd = p.agentPort ? `,hostfwd=tcp:127.0.0.1:${p.agentPort}-:8081` : '';
  args.push('-netdev', `user,id=nic0${fwd}`, '-device', 'virtio-net-pci,netdev=nic0,bus=pcie.0,addr=0x5');
  args.push('-chardev', `file,id=serial0,path=${p.serialLog},append=on`, '-serial', 'chardev:serial0');
  if (p.tdx) args.push('-device', `vhost-vsock-pci,guest-cid=${p.vsockCid ?? 3}`);
  args.push('-nodefaults', '-display', 'none', '-no-reboot');
  return args;
}
