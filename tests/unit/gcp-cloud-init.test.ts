/**
 * The user data a launch order's GCP VM boots with (background.md §3.3 shape, for the TypeScript agent): the agent
 * config parses with the agent's own validator (agent/core/config.ts) into the order's identity, and the unit runs
 * the bundled agent on that config. Nothing of v1's launcher.py remains.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig, resolveDatacenter, resolveVmName } from '../../agent/core/config';
import {
  AGENT_BUNDLE_PATH,
  AGENT_CONFIG_PATH,
  agentConfig,
  cloudInit,
  instanceResource,
  type GcpInstanceSettings,
  type OrderInstance,
} from '../../core/gcp-instance';

const settings: GcpInstanceSettings = {
  project: 'proj',
  imageProject: 'proj',
  imageFamily: 'easyenclave-agent',
  imageName: '',
  bootDiskGb: 80,
  bootDiskType: 'pd-balanced',
  network: 'default',
  controlPlaneUrl: 'https://cp.example.test',
  networkName: 'prod-net',
  itaApiKey: 'ita-key-123',
};
const order: OrderInstance = {
  orderId: '0f1e2d3c-aaaa-bbbb-cccc-000000000001',
  datacenter: 'gcp:us-central1-a',
  nodeSize: 'standard',
  zone: 'us-central1-a',
  name: 'ee-standard-0f1e2d3c-abcdef',
  bootstrapToken: 'T'.repeat(43),
};

function userData(): string {
  const r = instanceResource(order, settings, 'c3-standard-4');
  const items = (r.metadata as { items: { key: string; value: string }[] }).items;
  return items.find((i) => i.key === 'user-data')!.value;
}

describe('GCP cloud-init user data', () => {
  it('writes an agent config the agent accepts, naming the order VM, token, size and datacenter', () => {
    const doc = parse(userData());
    const file = doc.write_files.find((f: { path: string }) => f.path === AGENT_CONFIG_PATH);
    // The bootstrap token is a secret: root-only.
    expect(file).toMatchObject({ permissions: '0600', owner: 'root:root' });
    const raw = JSON.parse(file.content);
    const cfg = parseConfig(raw, {});
    expect(cfg).toMatchObject({
      mode: 'agent',
      attestation: 'tdx',
      control_plane_url: 'https://cp.example.test',
      node_size: 'standard',
      intel_api_key: 'ita-key-123',
      bootstrap_token: 'T'.repeat(43),
      vm_name: order.name,
    });
    expect(resolveDatacenter(cfg, {})).toBe('gcp:us-central1-a');
    expect(resolveVmName(cfg)).toBe(order.name);
    expect(raw).toMatchObject({ bootstrap_order_id: order.orderId, region: 'us-central1', cloud_provider: 'gcp' });
  });

  it('starts the bundled TypeScript agent under systemd, in §3.3 order, without fetching code', () => {
    const text = userData();
    expect(text.startsWith('#cloud-config\n')).toBe(true);
    const doc = parse(text);
    expect(Object.keys(doc)).toEqual(['package_update', 'packages', 'write_files', 'runcmd', 'final_message']);
    expect(doc.package_update).toBe(true);
    expect(doc.packages).toEqual(expect.arrayContaining(['ca-certificates', 'curl', 'docker.io']));
    expect(doc.packages.some((p: string) => p.startsWith('python3'))).toBe(false);
    const unit = doc.write_files.find((f: { path: string }) => f.path === '/etc/systemd/system/ee-agent.service');
    expect(unit.permissions).toBe('0644');
    expect(unit.content).toContain(`ExecStart=/usr/bin/env node ${AGENT_BUNDLE_PATH} --config ${AGENT_CONFIG_PATH}`);
    expect(unit.content).toContain('Restart=on-failure');
    expect(unit.content).toContain('WantedBy=multi-user.target');
    const cmds = doc.runcmd.map((c: string | string[]) => (Array.isArray(c) ? c.join(' ') : c));
    expect(cmds.at(-2)).toBe('systemctl daemon-reload');
    expect(cmds.at(-1)).toBe('systemctl enable --now ee-agent.service');
    expect(text).not.toMatch(/launcher\.py|raw\.githubusercontent\.com|python3 /);
    expect(doc.final_message).toBe('EasyEnclave agent bootstrap complete');
  });

  it('a config without an ITA key is what the agent refuses (the setting must be set for TDX agents)', () => {
    const raw = agentConfig(order, { ...settings, itaApiKey: '' });
    expect(() => parseConfig(raw, {})).toThrow(/intel_api_key/);
    expect(cloudInit(raw)).toContain('"bootstrap_token"');
  });
});
