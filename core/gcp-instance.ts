/**
 * The GCP instance of a launch order (background.md §3.2–§3.3), pure: names, labels, the agent config and the
 * cloud-init user data. The Compute calls live in activities/gcp.ts.
 */
import { stringify } from 'yaml';
import { lower, regionOfZone, sanitizeName } from './capacity';

export { instanceName, sanitizeName } from './capacity';

/** Label-value rule: [a-z0-9-_], runs of 2+ '-'/'_' → '-', trimmed of '-'/'_', ≤ 63. */
export function sanitizeLabel(v: string): string {
  return v
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .replace(/[-_]{2,}/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, 63);
}

/** `gcp:<zone>` → zone; otherwise the default zone. */
export function zoneOf(datacenter: string, defaultZone: string): string {
  const dc = lower(datacenter);
  return dc.startsWith('gcp:') && dc.length > 4 ? dc.slice(4) : defaultZone;
}

export interface GcpInstanceSettings {
  project: string;
  imageProject: string;
  imageFamily: string;
  imageName: string;
  bootDiskGb: number;
  bootDiskType: string;
  network: string;
  controlPlaneUrl: string;
  networkName: string;
  itaApiKey: string;
}

export interface OrderInstance {
  orderId: string;
  datacenter: string;
  nodeSize: string;
  zone: string;
  name: string;
  bootstrapToken: string;
}

/** The config file the agent reads at boot (`/etc/easyenclave/config.json`), §3.2 plus `vm_name`. */
export function agentConfig(o: OrderInstance, s: GcpInstanceSettings): Record<string, unknown> {
  const cfg: Record<string, unknown> = {
    mode: 'agent',
    control_plane_url: s.controlPlaneUrl,
    node_size: lower(o.nodeSize) || 'tiny',
    cloud_provider: 'gcp',
    availability_zone: o.zone,
    region: o.zone.includes('-') ? regionOfZone(o.zone) : '',
    datacenter: o.datacenter || `gcp:${o.zone}`,
    // Registers under the instance name, which the order records: a registration of this VM must bring the token.
    vm_name: o.name,
    bootstrap_order_id: o.orderId,
    bootstrap_token: o.bootstrapToken,
    disconnect_self_terminate_seconds: 300,
  };
  if (s.networkName) cfg.easyenclave_network_name = s.networkName;
  if (s.itaApiKey) cfg.intel_api_key = s.itaApiKey;
  return cfg;
}

const LAUNCHER_UNIT = `[Unit]
Description=TDX VM Launcher Service
After=network-online.target docker.service
Wants=network-online.target docker.service

[Service]
Type=simple
User=root
WorkingDirectory=/opt/launcher
ExecStart=/usr/bin/python3 /opt/launcher/launcher.py
Restart=on-failure
RestartSec=5
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;

/** §3.3, in its order: packages, the config + launcher unit, the bootstrap commands, the final message. */
export function cloudInit(
  config: Record<string, unknown>,
  launcherRepo = 'easyenclave/easyenclave',
  ref = 'main',
): string {
  const doc = {
    package_update: true,
    packages: [
      'ca-certificates',
      'curl',
      'gnupg',
      'lsb-release',
      'python3',
      'python3-requests',
      'python3-psutil',
      'docker.io',
      'docker-compose-plugin',
    ],
    write_files: [
      {
        path: '/etc/easyenclave/config.json',
        permissions: '0644',
        owner: 'root:root',
        content: `${JSON.stringify(config, null, 2)}\n`,
      },
      {
        path: '/etc/systemd/system/tdx-launcher.service',
        permissions: '0644',
        owner: 'root:root',
        content: LAUNCHER_UNIT,
      },
    ],
    runcmd: [
      ['mkdir', '-p', '/opt/launcher', '/home/tdx', '/etc/easyenclave'],
      [
        'curl',
        '-fsSL',
        `https://raw.githubusercontent.com/${launcherRepo}/${ref}/infra/launcher/launcher.py`,
        '-o',
        '/opt/launcher/launcher.py',
      ],
      ['chmod', '+x', '/opt/launcher/launcher.py'],
      ['systemctl', 'enable', '--now', 'docker'],
      'apt-get install -y docker-compose || true',
      'curl -fsSL -o /tmp/cloudflared.deb https://github.com/cloudflare/cloudflared/releases/latest/download/cloudflared-linux-amd64.deb && dpkg -i /tmp/cloudflared.deb || true',
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'tdx-launcher.service'],
    ],
    final_message: 'EasyEnclave launcher bootstrap complete',
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}

/** The Compute `Instance` resource (REST field names) for one machine type. */
export function instanceResource(
  o: OrderInstance,
  s: GcpInstanceSettings,
  machineType: string,
  extraLabels: Record<string, string> = {},
): Record<string, unknown> {
  const image = s.imageName
    ? `projects/${s.imageProject}/global/images/${s.imageName}`
    : `projects/${s.imageProject}/global/images/family/${s.imageFamily}`;
  const labels: Record<string, string> = {
    easyenclave: 'managed',
    'ee-order': sanitizeName(o.orderId.slice(0, 24)),
    'ee-node': sanitizeName(o.nodeSize || 'tiny'),
    'ee-dc': sanitizeName(o.datacenter || `gcp:${o.zone}`),
    ...extraLabels,
  };
  if (s.networkName) labels['ee-network'] = sanitizeLabel(s.networkName);
  try {
    const host = sanitizeLabel(new URL(s.controlPlaneUrl).hostname);
    if (host) labels['ee-cp-host'] = host;
  } catch {
    // an unparsable CP URL just goes without the label
  }
  return {
    name: o.name,
    machineType: `zones/${o.zone}/machineTypes/${machineType}`,
    confidentialInstanceConfig: { confidentialInstanceType: 'TDX' },
    scheduling: { onHostMaintenance: 'TERMINATE', automaticRestart: false },
    disks: [
      {
        boot: true,
        autoDelete: true,
        initializeParams: {
          sourceImage: image,
          diskSizeGb: String(Math.max(20, s.bootDiskGb)),
          diskType: `projects/${s.project}/zones/${o.zone}/diskTypes/${s.bootDiskType}`,
        },
      },
    ],
    networkInterfaces: [
      { network: `global/networks/${s.network}`, accessConfigs: [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] },
    ],
    metadata: { items: [{ key: 'user-data', value: cloudInit(agentConfig(o, s)) }] },
    labels,
  };
}
