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

/** The config the agent reads at boot (`/etc/easyenclave/config.json`, agent/README.md keys), §3.2 plus `vm_name`. */
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
  };
  if (s.networkName) cfg.easyenclave_network_name = s.networkName;
  if (s.itaApiKey) cfg.intel_api_key = s.itaApiKey;
  return cfg;
}

/** Where the agent image ships the single-file agent bundle (`npm run build:agent` → dist/ee-agent.mjs). */
export const AGENT_BUNDLE_PATH = '/opt/easyenclave/ee-agent.mjs';
export const AGENT_CONFIG_PATH = '/etc/easyenclave/config.json';
export const AGENT_UNIT_NAME = 'ee-agent.service';

/** The TypeScript agent (agent/README.md) as a systemd service reading the config cloud-init wrote. */
const AGENT_UNIT = `[Unit]
Description=easyenclave agent
After=network-online.target docker.service
Wants=network-online.target docker.service
ConditionPathExists=${AGENT_BUNDLE_PATH}

[Service]
Type=simple
User=root
Environment=NODE_ENV=production
ExecStart=/usr/bin/env node ${AGENT_BUNDLE_PATH} --config ${AGENT_CONFIG_PATH}
Restart=on-failure
RestartSec=5
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;

/**
 * §3.3's shape (packages, write_files, runcmd, final_message) for the TypeScript agent: the image ships the agent
 * bundle and Node, so nothing is downloaded from GitHub at boot (v1 fetched launcher.py, unmeasured); cloud-init
 * writes the agent config (0600: it holds the one-time bootstrap token) and the unit, then starts it. Docker and
 * cloudflared (the agent runs the workload and the tunnel with them) stay best-effort installs for images without them.
 */
export function cloudInit(config: Record<string, unknown>): string {
  const doc = {
    package_update: true,
    packages: ['ca-certificates', 'curl', 'gnupg', 'lsb-release', 'docker.io', 'docker-compose-plugin'],
    write_files: [
      {
        path: AGENT_CONFIG_PATH,
        permissions: '0600',
        owner: 'root:root',
        content: `${JSON.stringify(config, null, 2)}\n`,
      },
      {
        path: `/etc/systemd/system/${AGENT_UNIT_NAME}`,
        permissions: '0644',
        owner: 'root:root',
        content: AGENT_UNIT,
      },
    ],
    runcmd: [
      ['mkdir', '-p', '/etc/easyenclave', '/data/ee-agent', '/data/workload'],
      ['systemctl', 'enable', '--now', 'docker'],
      'command -v cloudflared >/dev/null || (curl -fsSL -o /tmp/cloudflared.deb https://github.com/cloudflare/cloudflared/releases/latest/download/cloudflared-linux-amd64.deb && dpkg -i /tmp/cloudflared.deb) || true',
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', AGENT_UNIT_NAME],
    ],
    final_message: 'EasyEnclave agent bootstrap complete',
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
