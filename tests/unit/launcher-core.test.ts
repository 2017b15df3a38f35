/**
 * The launcher's pure core: node-size presets (launcher.md §2), the config and its cmdline encoding as the agent
 * reads it (agent.md §2, decoded here by the agent's own parser), the config-drive fallback, QEMU arguments per
 * preset (launcher.md §4.3), the measure-log scanner and the launch form's validation.
 */
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { configFromCmdline, parseConfig } from '../../agent/core/config';
import {
  buildCmdline,
  buildConfig,
  compactJson,
  encodeConfigParam,
  normalizeOwner,
  SECRET_CONFIG_KEYS,
} from '../../launcher/core/config';
import { validateLaunchForm, emptyLaunchForm } from '../../launcher/core/controller';
import { LauncherError } from '../../launcher/core/errors';
import { scanMeasureLog } from '../../launcher/core/measure';
import { resolveSizing } from '../../launcher/core/presets';
import { composeQemuArgs, type QemuPlan } from '../../launcher/core/qemu';

const plan = (size: 'tiny' | 'standard' | 'llm', extra: Partial<QemuPlan> = {}, env = {}): QemuPlan => ({
  name: `vm-${size}`,
  sizing: resolveSizing({ size }, env),
  tdx: true,
  accel: 'kvm',
  kernel: '/img/easyenclave.vmlinuz',
  initrd: '/img/easyenclave.initrd',
  cmdline: 'console=ttyS0 easyenclave.configz=abc',
  rootDisk: '/img/easyenclave.root.raw',
  serialLog: '/state/vms/vm/serial.log',
  agentPort: 40001,
  vsockCid: 7,
  ...extra,
});

const argAfter = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

describe('node-size presets', () => {
  it('tiny 4 GiB/4, standard 16 GiB/16, llm from env, overrides keep the preset name', () => {
    expect(resolveSizing({ size: 'tiny' })).toEqual({ size: 'tiny', memoryMiB: 4096, vcpus: 4, diskGiB: 0 });
    expect(resolveSizing({ size: 'standard' })).toEqual({ size: 'standard', memoryMiB: 16384, vcpus: 16, diskGiB: 0 });
    expect(resolveSizing({ size: 'llm' })).toEqual({ size: 'llm', memoryMiB: 16384, vcpus: 8, diskGiB: 80 });
    expect(
      resolveSizing(
        { size: 'llm' },
        { EASYENCLAVE_LLM_MEM_GIB: '96', EASYENCLAVE_LLM_VCPUS: '32', EASYENCLAVE_LLM_DISK_GIB: '200' },
      ),
    ).toEqual({ size: 'llm', memoryMiB: 96 * 1024, vcpus: 32, diskGiB: 200 });
    expect(resolveSizing({}, { EASYENCLAVE_DEFAULT_SIZE: 'standard' }).size).toBe('standard');
    expect(resolveSizing({ size: 'tiny', memory: '512M', vcpus: '1' })).toEqual({
      size: 'tiny',
      memoryMiB: 512,
      vcpus: 1,
      diskGiB: 0,
    });
  });

  it('rejects an unknown size, bad memory and a non-integer env value with usage errors', () => {
    for (const bad of [{ size: 'huge' }, { memory: 'lots' }, { vcpus: '0' }]) {
      const err = (() => {
        try {
          resolveSizing(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(LauncherError);
      expect((err as LauncherError).exitCode).toBe(2);
    }
    expect(() => resolveSizing({ size: 'llm' }, { EASYENCLAVE_LLM_VCPUS: 'eight' })).toThrow(/EASYENCLAVE_LLM_VCPUS/);
  });
});

describe('config and kernel cmdline', () => {
  const input = {
    mode: 'agent' as const,
    nodeSize: 'tiny' as const,
    vmName: 'ee-tiny-1234abcd',
    vmId: 'ee-tiny-1234abcd',
    cpUrl: 'https://cp.example.com',
    intelApiKey: 'ita-key',
    owner: 'github:acme/app',
    datacenter: 'baremetal:fra1',
    bootstrapToken: 't'.repeat(43),
  };

  it('keeps v1 key order: mode, node_size, command keys, vm_name, vm_id last', () => {
    const c = buildConfig(input, { EASYENCLAVE_NETWORK_NAME: 'staging', TRUSTED_PROXY_MRTDS: 'aa' });
    expect(Object.keys(c)).toEqual([
      'mode',
      'node_size',
      'control_plane_url',
      'intel_api_key',
      'easyenclave_network_name',
      'trusted_proxy_mrtds',
      'datacenter',
      'owner',
      'bootstrap_token',
      'vm_name',
      'vm_id',
    ]);
  });

  it('encodes what the agent decodes and accepts (configz when shorter)', () => {
    const { intelApiKey: _k, bootstrapToken: _t, ...noSecrets } = input;
    const config = buildConfig({
      ...noSecrets,
      attestation: 'insecure-local',
      owner: 'github:acme/app-with-a-long-name-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    });
    const { cmdline } = buildCmdline({ base: 'console=ttyS0,115200', config, memoryMiB: 4096 });
    expect(cmdline).toMatch(/^console=ttyS0,115200 easyenclave\.configz=[A-Za-z0-9+/=]+$/);
    const decoded = configFromCmdline(cmdline);
    expect(decoded).toEqual(config);
    const parsed = parseConfig(decoded);
    expect(parsed).toMatchObject({ mode: 'agent', node_size: 'tiny', vm_name: 'ee-tiny-1234abcd' });
  });

  it('never puts a credential on the cmdline: a config with any secret key goes to the config drive whole', () => {
    const config = buildConfig(input);
    expect(buildCmdline({ base: 'console=ttyS0,115200', config, memoryMiB: 4096 })).toEqual({
      cmdline: 'console=ttyS0,115200',
      configDrive: config,
    });
    expect(parseConfig(config)).toMatchObject({ intel_api_key: 'ita-key', bootstrap_token: 't'.repeat(43) });
    for (const key of SECRET_CONFIG_KEYS) {
      const one = buildCmdline({ base: 'b', config: { mode: 'control-plane', [key]: 'v' }, memoryMiB: 4096 });
      expect(one.configDrive, key).not.toBeNull();
      expect(one.cmdline, key).toBe('b');
    }
    // An empty value is no secret: it stays on the cmdline.
    expect(
      buildCmdline({ base: 'b', config: { mode: 'agent', intel_api_key: '' }, memoryMiB: 4096 }).configDrive,
    ).toBeNull();
  });

  it('uses plain easyenclave.config when zlib is not strictly shorter, and escapes non-ASCII like Python', () => {
    const p = encodeConfigParam({ mode: 'agent' });
    expect(p.key).toBe('easyenclave.config');
    expect(Buffer.from(p.value, 'base64').toString()).toBe('{"mode":"agent"}');
    expect(compactJson({ a: 'é€' })).toBe('{"a":"\\u00e9\\u20ac"}');
    const z = encodeConfigParam({ mode: 'agent', x: 'y'.repeat(200) });
    expect(z.key).toBe('easyenclave.configz');
    expect(JSON.parse(inflateSync(Buffer.from(z.value, 'base64')).toString())).toEqual({
      mode: 'agent',
      x: 'y'.repeat(200),
    });
  });

  it('appends swiotlb at >= 64 GiB and falls back to a config drive over the limit, but never for measure', () => {
    const config = buildConfig(input);
    expect(buildCmdline({ base: 'b', config, memoryMiB: 64 * 1024 }).cmdline).toMatch(/ swiotlb=131072$/);
    const big = { ...config, gcp_service_account_key: 'k'.repeat(5000) };
    expect(buildCmdline({ base: 'base', config: big, memoryMiB: 4096, maxBytes: 100 })).toEqual({
      cmdline: 'base',
      configDrive: big,
    });
    const measure = buildConfig({ ...input, mode: 'measure' });
    expect(measure).toEqual({ mode: 'measure', node_size: 'tiny', vm_id: 'measure-tiny' });
    expect(parseConfig(measure).mode).toBe('measure');
    expect(() => buildCmdline({ base: 'b'.repeat(200), config: measure, memoryMiB: 4096, maxBytes: 100 })).toThrow(
      /measure config/,
    );
  });

  it('normalizes owners', () => {
    expect(normalizeOwner('acme/app')).toBe('github:acme/app');
    expect(normalizeOwner('github:acme')).toBe('github:acme');
    expect(normalizeOwner('not an owner')).toBeNull();
  });
});

describe('QEMU arguments (launcher.md §4.3)', () => {
  it('tiny with TDX: the full command line', () => {
    expect(composeQemuArgs(plan('tiny'))).toEqual([
      '-name', 'vm-tiny,process=ee-vm-tiny',
      '-accel', 'kvm',
      '-machine', 'q35,kernel-irqchip=split,confidential-guest-support=tdx0,hpet=off',
      '-object', 'tdx-guest,id=tdx0,sept-ve-disable=on,quote-generation-socket.type=vsock,quote-generation-socket.cid=2,quote-generation-socket.port=4050',
      '-bios', '/usr/share/qemu/OVMF.fd',
      '-m', '4G',
      '-cpu', 'host',
      '-smp', '4,sockets=1,cores=4,threads=1',
      '-kernel', '/img/easyenclave.vmlinuz',
      '-initrd', '/img/easyenclave.initrd',
      '-append', 'console=ttyS0 easyenclave.configz=abc',
      '-drive', 'file=/img/easyenclave.root.raw,if=none,id=root,format=raw,readonly=on,cache=none',
      '-device', 'virtio-blk-pci,drive=root',
      '-netdev', 'user,id=nic0,hostfwd=tcp:127.0.0.1:40001-:8081',
      '-device', 'virtio-net-pci,netdev=nic0,bus=pcie.0,addr=0x5',
      '-chardev', 'file,id=serial0,path=/state/vms/vm/serial.log,append=on',
      '-serial', 'chardev:serial0',
      '-device', 'vhost-vsock-pci,guest-cid=7',
      '-nodefaults', '-display', 'none', '-no-reboot',
    ]); // prettier-ignore
  });

  it('standard and llm: memory, vCPUs and topology from the preset; llm gets its qcow2 data disk', () => {
    const std = composeQemuArgs(plan('standard'));
    expect(argAfter(std, '-m')).toEqual(['16G']);
    expect(argAfter(std, '-smp')).toEqual(['16,sockets=1,cores=16,threads=1']);
    const llm = composeQemuArgs(
      plan('llm', { dataDisk: '/state/vms/vm/data.qcow2' }, { EASYENCLAVE_LLM_MEM_GIB: '64' }),
    );
    expect(argAfter(llm, '-m')).toEqual(['64G']);
    expect(argAfter(llm, '-smp')).toEqual(['8,sockets=1,cores=8,threads=1']);
    expect(argAfter(llm, '-drive')).toContain(
      'file=/state/vms/vm/data.qcow2,if=none,id=data,format=qcow2,cache=writeback',
    );
    for (const a of [std, llm]) expect(argAfter(a, '-object')[0]).toMatch(/^tdx-guest,/);
  });

  it('config ISO as a read-only SATA cdrom; --no-tdx drops the TDX object, firmware and vsock', () => {
    const iso = composeQemuArgs(plan('tiny', { configIso: '/s/cidata.iso' }));
    expect(argAfter(iso, '-drive')).toContain('file=/s/cidata.iso,if=none,id=cidata,media=cdrom,readonly=on');
    expect(argAfter(iso, '-device')).toContain('ide-cd,drive=cidata,bus=ide.0');
    const plain = composeQemuArgs(plan('tiny', { tdx: false, accel: 'tcg' }));
    expect(argAfter(plain, '-accel')).toEqual(['tcg']);
    expect(argAfter(plain, '-machine')).toEqual(['q35,hpet=off']);
    expect(plain.join(' ')).not.toMatch(/tdx|OVMF|vsock/);
    expect(argAfter(plain, '-cpu')).toEqual(['max']);
  });
});

describe('measure log and launch form', () => {
  it('finds the measurements line, the error line, and ignores a torn last line', () => {
    const m = { mrtd: 'AB'.repeat(48), rtmr0: '0', rtmr1: '1', rtmr2: '2', rtmr3: '3' };
    expect(scanMeasureLog(`boot\r\nEASYENCLAVE_MEASUREMENTS=${JSON.stringify(m)}\r\n`)).toEqual({
      kind: 'measurements',
      value: { ...m, mrtd: 'ab'.repeat(48) },
    });
    expect(scanMeasureLog('x\nEASYENCLAVE_MEASURE_ERROR=no configfs-tsm\n')).toEqual({
      kind: 'error',
      message: 'no configfs-tsm',
    });
    expect(scanMeasureLog('EASYENCLAVE_MEASUREMENTS={"mrtd":"ab')).toBeNull();
    expect(scanMeasureLog('EASYENCLAVE_MEASUREMENTS={"mrtd":""}\n')).toBeNull();
  });

  it('validates every launch-form field', () => {
    expect(validateLaunchForm({ ...emptyLaunchForm(), image: '/img' })).toEqual({});
    expect(
      validateLaunchForm({
        image: '',
        size: 'tiny',
        memory: 'lots',
        cpUrl: 'ftp://x',
        datacenter: 'fra1',
        owner: 'a b',
        tdx: true,
      }),
    ).toEqual({
      image: expect.any(String),
      memory: expect.any(String),
      cpUrl: expect.any(String),
      datacenter: expect.any(String),
      owner: expect.any(String),
    });
  });
});
