/**
 * Every screen of the Ink UI through ink-testing-library (`lastFrame()`), driven by key presses over a fake
 * Controller: the VM list (with CP registration/health), the launch form (valid, invalid, failing launch, progress
 * spinner), stop confirmation, the log pane, preflight, and a resize to 80 columns.
 */
import { render } from 'ink-testing-library';
import { describe, expect, it, vi } from 'vitest';
import type { Controller, LaunchForm } from '../../launcher/core/controller';
import { emptyLaunchForm } from '../../launcher/core/controller';
import type { CpAgent } from '../../launcher/core/cp-client';
import type { Check } from '../../launcher/core/preflight';
import type { VmRecord, VmView } from '../../launcher/core/state';
import { App } from '../../launcher/ui/App';

const KEY = { up: '\u001B[A', down: '\u001B[B', right: '\u001B[C', enter: '\r', esc: '\u001B', backspace: '\u007F' };

function vm(name: string, over: Partial<VmView> = {}): VmView {
  return {
    name,
    mode: 'agent',
    node_size: 'tiny',
    memory_mib: 4096,
    vcpus: 4,
    disk_gib: 0,
    tdx: true,
    accel: 'kvm',
    image: '/img',
    pid: 123,
    argv: [],
    serial_log: '/s',
    agent_port: 40001,
    config_drive: false,
    cp_url: 'http://cp',
    created_at: new Date().toISOString(),
    stopped_at: null,
    state: 'running',
    uptime_s: 125,
    ...over,
  };
}

function fakeController(over: Partial<Controller> = {}) {
  let vms: VmView[] = [
    vm('ee-tiny-aaaa1111'),
    vm('ee-standard-bbbb2222', { node_size: 'standard', memory_mib: 16384, vcpus: 16, cp_url: null, uptime_s: 3700 }),
  ];
  const calls = { launch: [] as LaunchForm[], stop: [] as string[], preflight: 0 };
  const agents = new Map<string, CpAgent>([
    [
      'ee-tiny-aaaa1111',
      { agent_id: 'a1', vm_name: 'ee-tiny-aaaa1111', status: 'undeployed', verified: true, health_status: 'healthy' },
    ],
  ]);
  const c: Controller = {
    list: () => vms,
    launch: async (form) => {
      calls.launch.push(form);
      const rec = vm('ee-tiny-cccc3333', { node_size: form.size });
      vms = [...vms, rec];
      return rec as VmRecord;
    },
    stop: async (name) => {
      calls.stop.push(name);
      vms = vms.map((v) => (v.name === name ? { ...v, state: 'stopped', uptime_s: null } : v));
    },
    logTail: (name) => `boot line 1\nboot line 2\n[${name}] ee-agent: registered\n`,
    preflight: async (): Promise<Check[]> => {
      calls.preflight += 1;
      return [
        { id: 'kvm', title: 'KVM device', status: 'ok', detail: '/dev/kvm present' },
        {
          id: 'tdx',
          title: 'TDX in KVM',
          status: 'fail',
          detail: 'tdx parameter not found',
          remedy: 'load kvm_intel with tdx=1',
        },
        { id: 'disk', title: 'Disk space', status: 'warn', detail: '4.0 GiB free', remedy: 'free at least 10 GiB' },
      ];
    },
    cpAgents: async () => agents,
    ...over,
  };
  return { c, calls };
}

function mount(c: Controller) {
  const r = render(<App controller={c} initialForm={emptyLaunchForm()} refreshMs={50} cpRefreshMs={50} />);
  const frame = () => r.lastFrame() ?? '';
  // A new screen subscribes to input in a passive effect, which runs a moment after its first frame: settle
  // before the next key so it is not sent to nobody.
  const until = async (text: string | RegExp) => {
    await vi.waitFor(() => expect(frame()).toMatch(typeof text === 'string' ? new RegExp(escape(text)) : text), {
      timeout: 5000,
    });
    await new Promise((res) => setTimeout(res, 25));
  };
  const press = async (...keys: string[]) => {
    for (const k of keys) {
      r.stdin.write(k);
      await new Promise((res) => setImmediate(res));
    }
  };
  return { ...r, frame, until, press };
}
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('the VM list', () => {
  it('shows name, state, size, uptime, address and CP registration/health, and the key bindings', async () => {
    const { c } = fakeController();
    const ui = mount(c);
    await ui.until('undeployed ✓ healthy');
    const f = ui.frame();
    expect(f).toMatch(/NAME\s+STATE\s+SIZE\s+UPTIME\s+ADDRESS\s+AGENT/);
    expect(f).toMatch(/› ee-tiny-aaaa1111\s+running\s+tiny 4G\/4\s+2m05s\s+127\.0\.0\.1:40001\s+undeployed ✓ healthy/);
    expect(f).toMatch(/ee-standard-bbbb2222\s+running\s+standard 16G\/16\s+1h01m\s+127\.0\.0\.1:40001\s+-/);
    expect(f).toContain('2 running / 2 VMs');
    for (const k of ['n launch', 's stop', 'l logs', 'p preflight', 'q quit']) expect(f).toContain(k);
    ui.unmount();
  });

  it('a running VM with a CP URL and no agent yet shows a registration spinner', async () => {
    const { c } = fakeController({ list: () => [vm('ee-tiny-dddd4444', { cp_url: 'http://cp' })] });
    const ui = mount(c);
    await ui.until(/ee-tiny-dddd4444 .*[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] registering…/);
    ui.unmount();
  });

  it('an empty host says how to start', async () => {
    const { c } = fakeController({ list: () => [] });
    const ui = mount(c);
    await ui.until('No VMs yet. Press n to launch one.');
    ui.unmount();
  });

  it('fits 80 columns after a resize', async () => {
    const { c } = fakeController();
    const ui = mount(c);
    await ui.until('healthy');
    Object.defineProperty(ui.stdout, 'columns', { value: 80, configurable: true });
    ui.stdout.emit('resize');
    await vi.waitFor(() =>
      expect(
        Math.max(
          ...ui
            .frame()
            .split('\n')
            .map((l) => l.length),
        ),
      ).toBeLessThanOrEqual(80),
    );
    expect(ui.frame()).toContain('ee-tiny-aaaa1111');
    ui.unmount();
  });
});

describe('the launch form', () => {
  it('valid input: type the image, pick a preset, Enter launches and the new VM is listed', async () => {
    const { c, calls } = fakeController();
    const ui = mount(c);
    await ui.until('ee-tiny-aaaa1111');
    await ui.press('n');
    await ui.until('Launch a VM');
    expect(ui.frame()).toContain('preset tiny: 4 GiB, 4 vCPU');
    await ui.press(...'/srv/images/ee');
    await ui.until('/srv/images/ee');
    await ui.press(KEY.down, KEY.right);
    await ui.until('‹ standard ›');
    expect(ui.frame()).toContain('preset standard: 16 GiB, 16 vCPU');
    await ui.press(KEY.right);
    await ui.until('preset llm: 16 GiB, 8 vCPU, 80 GiB data disk');
    await ui.press(KEY.right, KEY.right); // llm → tiny → standard
    await ui.press(KEY.down, KEY.down, KEY.down, ...'baremetal:fra1', KEY.enter);
    await ui.until('launched ee-tiny-cccc3333');
    expect(calls.launch).toEqual([
      {
        image: '/srv/images/ee',
        size: 'standard',
        memory: '',
        cpUrl: '',
        datacenter: 'baremetal:fra1',
        owner: '',
        tdx: true,
      },
    ]);
    await ui.until(/ee-tiny-cccc3333\s+running\s+standard/);
    ui.unmount();
  });

  it('invalid input: errors next to the fields, nothing launched; Esc cancels', async () => {
    const { c, calls } = fakeController();
    const ui = mount(c);
    await ui.until('ee-tiny-aaaa1111');
    await ui.press('n');
    await ui.until('Launch a VM');
    await ui.press(
      KEY.down,
      KEY.down,
      '1',
      '2',
      'x',
      KEY.down,
      ...'ftp://x',
      KEY.down,
      'fra1',
      KEY.down,
      ...'not an owner',
      KEY.enter,
    );
    await ui.until('✗ required: an image directory or OCI reference');
    const f = ui.frame();
    expect(f).toContain('✗ e.g. 4G or 512M');
    expect(f).toContain('✗ an http(s):// URL');
    expect(f).toContain('✗ <provider>:<location>');
    expect(f).toContain('✗ github:org or github:org/name');
    expect(calls.launch).toEqual([]);
    await ui.press(KEY.esc);
    await ui.until('n launch');
    expect(ui.frame()).not.toContain('Launch a VM');
    ui.unmount();
  });

  it('a failing launch returns to the form with the reason; progress shows on a spinner line', async () => {
    let reject: (e: Error) => void = () => {};
    let progress: (m: string) => void = () => {};
    const { c } = fakeController({
      launch: (_f, p) => {
        progress = p;
        return new Promise<VmRecord>((_, rej) => (reject = rej));
      },
    });
    const ui = mount(c);
    await ui.until('ee-tiny-aaaa1111');
    await ui.press('n');
    await ui.until('Launch a VM');
    await ui.press(...'reg.example/ee:1', KEY.enter);
    await ui.until('resolving image…');
    progress('extracting layer 1/2 sha256:abcdef');
    await ui.until(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] extracting layer 1\/2 sha256:abcdef/);
    reject(new Error('image reg.example/ee:1 not found'));
    await ui.until('launch failed: image reg.example/ee:1 not found');
    expect(ui.frame()).toContain('reg.example/ee:1');
    ui.unmount();
  });
});

describe('stop, logs, preflight', () => {
  it('stop asks for confirmation: n keeps the VM, y stops it', async () => {
    const { c, calls } = fakeController();
    const ui = mount(c);
    await ui.until('ee-tiny-aaaa1111');
    await ui.press('s');
    await ui.until('Stop ee-tiny-aaaa1111? QEMU gets SIGTERM, then SIGKILL after 10 s.');
    await ui.press('n');
    await ui.until('n launch');
    expect(calls.stop).toEqual([]);
    await ui.press('s');
    await ui.until('Stop ee-tiny-aaaa1111?');
    await ui.press('y');
    await ui.until('stopped ee-tiny-aaaa1111');
    expect(calls.stop).toEqual(['ee-tiny-aaaa1111']);
    await ui.until(/ee-tiny-aaaa1111\s+stopped/);
    await ui.press('s');
    await ui.until('ee-tiny-aaaa1111 is not running');
    ui.unmount();
  });

  it('the log pane tails the selected VM’s serial console; Esc goes back', async () => {
    const { c } = fakeController();
    const ui = mount(c);
    await ui.until('ee-standard-bbbb2222');
    await ui.press(KEY.down, 'l');
    await ui.until('serial console of ee-standard-bbbb2222 (3 lines)');
    expect(ui.frame()).toContain('[ee-standard-bbbb2222] ee-agent: registered');
    expect(ui.frame()).toContain('esc back');
    await ui.press(KEY.esc);
    await ui.until('n launch');
    ui.unmount();
  });

  it('preflight lists each check with its remedy; r re-runs', async () => {
    const { c, calls } = fakeController();
    const ui = mount(c);
    await ui.until('ee-tiny-aaaa1111');
    await ui.press('p');
    await ui.until('✗ TDX in KVM: tdx parameter not found');
    const f = ui.frame();
    expect(f).toContain('✓ KVM device: /dev/kvm present');
    expect(f).toContain('→ load kvm_intel with tdx=1');
    expect(f).toContain('! Disk space: 4.0 GiB free');
    await ui.press('r');
    await vi.waitFor(() => expect(calls.preflight).toBe(2));
    await ui.press(KEY.esc);
    await ui.until('n launch');
    ui.unmount();
  });
});
