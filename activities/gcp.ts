/**
 * GCP Compute for launch orders (background.md §3–§4) through `@google-cloud/compute` over REST: the service-account
 * key and the endpoint come from settings (`gcp.*`), so a local fake Compute API serves tests. Idempotency: every
 * insert carries `requestId` = UUIDv5 of the order id (of `<order>:<claim>:<type>` for later claims and fallback
 * machine types), so a retried insert — a worker killed mid-call — gets the same operation back, never a second VM.
 */
import type { KeyRing } from '../core/auth/keyring';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { InstancesClient, ZoneOperationsClient } from '@google-cloud/compute';
import { uuidV5 } from '../core/auth/bootstrap-token';
import { unseal } from '../core/auth/seal';
import { isGcpDatacenter, lower } from '../core/capacity';
import { instanceResource, zoneOf, type GcpInstanceSettings } from '../core/gcp-instance';
import { parseIntStrict } from '../core/settings/parse';
import type { SettingKey } from '../core/settings/registry';
import type { SettingsReader } from '../core/settings/types';
import type { SealedValue } from '../workflows/contracts/agents';
import { CapacityFailure } from '../workflows/contracts/failures';

const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const OPERATION_DEADLINE_MS = 120_000;
/** The machine-type list of each node size; a size without one uses `gcp.machine_types`. */
const MACHINE_TYPES_SETTING: Readonly<Record<string, SettingKey>> = {
  tiny: 'gcp.machine_types_tiny',
  standard: 'gcp.machine_types_standard',
  llm: 'gcp.machine_types_llm',
};

export interface GcpClients {
  project: string;
  instances: InstancesClient;
  operations: ZoneOperationsClient;
}

export interface GcpDeps {
  settings: SettingsReader;
  sealingKey: KeyRing;
}

export interface ManagedInstance {
  name: string;
  zone: string;
  datacenter: string;
  status: string;
  creation_timestamp: string | null;
  labels: Record<string, string>;
}

function parseKey(raw: string): { client_email: string; private_key: string } {
  const tryJson = (s: string) => {
    try {
      const v = JSON.parse(s) as unknown;
      return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  const obj = tryJson(raw) ?? tryJson(Buffer.from(raw, 'base64').toString('utf8'));
  if (!obj)
    throw ApplicationFailure.nonRetryable(
      'Invalid GCP service account key (not JSON or b64 JSON)',
      CapacityFailure.GcpNotConfigured,
    );
  if (typeof obj.client_email !== 'string' || typeof obj.private_key !== 'string') {
    throw ApplicationFailure.nonRetryable(
      'GCP service account key needs client_email and private_key',
      CapacityFailure.GcpNotConfigured,
    );
  }
  return { client_email: obj.client_email, private_key: obj.private_key };
}

/** A REST-transport client pair over the configured endpoint and token URL. */
export async function gcpClients(settings: SettingsReader): Promise<GcpClients> {
  const project = (await settings.get('gcp.project_id')).trim();
  const rawKey = (await settings.get('gcp.service_account_key')).trim();
  if (!project || !rawKey) {
    throw ApplicationFailure.nonRetryable(
      'GCP_PROJECT_ID is not set on the control plane',
      CapacityFailure.GcpNotConfigured,
    );
  }
  const credentials = parseKey(rawKey);
  const endpoint = (await settings.get('gcp.api_endpoint')).trim();
  const tokenUrl = (await settings.get('gcp.oauth_token_url')).trim() || GOOGLE_TOKEN_URL;
  const transport: Record<string, unknown> = { fallback: true };
  if (endpoint) {
    const u = new URL(endpoint);
    transport.apiEndpoint = u.hostname;
    transport.protocol = u.protocol.replace(':', '');
    transport.port = Number(u.port || (u.protocol === 'http:' ? 80 : 443));
  }
  // Loaded on first use: the package's generated protobuf module alone is a 30 MB source, and the worker of an
  // install that never fulfils GCP orders should not carry it (~150 MB of RSS, docs/performance.md, Memory).
  const { InstancesClient, ZoneOperationsClient } = await import('@google-cloud/compute');
  const instances = new InstancesClient({ credentials, ...transport });
  const authClient = await instances.auth.getClient();
  if (tokenUrl !== GOOGLE_TOKEN_URL) {
    // The service-account JWT client posts to Google's fixed token URL; send it to the configured one instead.
    (authClient as unknown as { transporter: TransporterLike }).transporter.interceptors.request.add({
      resolved: async (cfg) => {
        if (String(cfg.url).startsWith(GOOGLE_TOKEN_URL)) cfg.url = new URL(tokenUrl);
        return cfg;
      },
    });
  }
  const operations = new ZoneOperationsClient({ authClient, ...transport } as never);
  return { project, instances, operations };
}

interface TransporterLike {
  interceptors: { request: { add(i: { resolved: (cfg: { url?: unknown }) => Promise<{ url?: unknown }> }): void } };
}

const httpCode = (err: unknown): number | undefined => {
  const e = err as { code?: unknown; status?: unknown };
  if (typeof e.code === 'number') return e.code === 5 ? 404 : e.code;
  return typeof e.status === 'number' ? e.status : undefined;
};

async function instanceSettings(settings: SettingsReader, project: string): Promise<GcpInstanceSettings> {
  const get = async (k: SettingKey) => (await settings.get(k)).trim();
  return {
    project,
    imageProject: (await get('gcp.image_project')) || project,
    imageFamily: (await get('gcp.image_family')) || 'easyenclave-agent',
    imageName: await get('gcp.image_name'),
    bootDiskGb: parseIntStrict(await get('gcp.boot_disk_gb'), 80),
    bootDiskType: (await get('gcp.boot_disk_type')) || 'pd-balanced',
    network: (await get('gcp.network')) || 'default',
    controlPlaneUrl: (await get('gcp.control_plane_url')) || 'https://app.easyenclave.com',
    networkName: await get('gcp.network_name'),
    itaApiKey: await get('gcp.agent_ita_api_key'),
  };
}

export function createGcpActivities({ settings, sealingKey }: GcpDeps) {
  const defaultZone = async () => (await settings.get('gcp.default_zone')).trim() || 'us-central1-a';

  /** Waits on a zone operation until DONE (Compute's `wait` returns at the latest after ~2 min); heartbeats. */
  async function waitOperation(c: GcpClients, zone: string, name: string): Promise<{ error: string | null }> {
    const deadline = Date.now() + OPERATION_DEADLINE_MS;
    for (;;) {
      const [op] = await c.operations.wait({ project: c.project, zone, operation: name });
      Context.current().heartbeat(name);
      if (String(op.status) === 'DONE') {
        const errs = op.error?.errors ?? [];
        return { error: errs.length > 0 ? errs.map((e) => `${e.code}: ${e.message}`).join('; ') : null };
      }
      if (Date.now() > deadline) return { error: `operation ${name} not done after ${OPERATION_DEADLINE_MS / 1000}s` };
    }
  }

  return {
    async gcpConfigured(): Promise<{ configured: boolean }> {
      return {
        configured:
          (await settings.get('gcp.project_id')).trim() !== '' &&
          (await settings.get('gcp.service_account_key')).trim() !== '',
      };
    },

    /**
     * Creates the order's TDX instance and waits for its zone operation, trying the configured machine types in
     * order (§3.2). Transient errors throw (retried with the same requestIds); every type refused → GcpInsertFailed.
     */
    async insertGcpInstance(input: {
      orderId: string;
      claimNo: number;
      name: string;
      datacenter: string;
      nodeSize: string;
      token: SealedValue;
    }): Promise<{ vmName: string; zone: string; machineType: string }> {
      const c = await gcpClients(settings);
      const zone = zoneOf(input.datacenter, await defaultZone());
      const s = await instanceSettings(settings, c.project);
      const size = lower(input.nodeSize) || 'tiny';
      const sizeKey = MACHINE_TYPES_SETTING[size];
      const list = ((sizeKey ? (await settings.get(sizeKey)).trim() : '') || (await settings.get('gcp.machine_types')))
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      const types = list.length > 0 ? list : ['c3-standard-4', 'c3-standard-8'];
      const order = {
        orderId: input.orderId,
        datacenter: input.datacenter,
        nodeSize: size,
        zone,
        name: input.name,
        bootstrapToken: unseal(sealingKey, input.token),
      };
      let last = 'unknown error';
      for (const [i, type] of types.entries()) {
        const key = input.claimNo <= 1 && i === 0 ? input.orderId : `${input.orderId}:${input.claimNo}:${i}`;
        try {
          const [lro] = await c.instances.insert({
            project: c.project,
            zone,
            requestId: uuidV5(key),
            instanceResource: instanceResource(order, s, type),
          });
          // A worker going down mid-call abandons this attempt; the retry re-sends the same requestId.
          const signal = Context.current().cancellationSignal;
          if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('activity cancelled');
          const op = lro.latestResponse as { name?: string | null };
          if (!op?.name) return { vmName: input.name, zone, machineType: type };
          const done = await waitOperation(c, zone, op.name);
          if (!done.error) return { vmName: input.name, zone, machineType: type };
          last = done.error;
        } catch (err) {
          const code = httpCode(err);
          // 4xx (quota, bad machine type in the zone, …): try the next type; anything else is transient.
          if (code === undefined || code >= 500 || code === 429) throw err;
          last = `HTTP ${code}: ${String((err as Error).message).slice(0, 500)}`;
        }
      }
      throw ApplicationFailure.nonRetryable(
        `GCP instance insert failed for all machine types [${types.join(', ')}]: ${last}`.slice(0, 450),
        CapacityFailure.GcpInsertFailed,
      );
    },

    /** §3.4: false when already gone. */
    async deleteGcpInstance(input: {
      datacenter: string;
      name: string;
      requestKey?: string;
    }): Promise<{ deleted: boolean }> {
      const c = await gcpClients(settings);
      const zone = zoneOf(input.datacenter, await defaultZone());
      const instance = lower(input.name);
      try {
        const [lro] = await c.instances.delete({
          project: c.project,
          zone,
          instance,
          requestId: uuidV5(`delete:${input.requestKey ?? instance}`),
        });
        const op = lro.latestResponse as { name?: string | null };
        if (op?.name) {
          const r = await waitOperation(c, zone, op.name);
          if (r.error) throw new Error(`GCP delete of ${instance} failed: ${r.error}`);
        }
        return { deleted: true };
      } catch (err) {
        if (httpCode(err) === 404) return { deleted: false };
        throw err;
      }
    },

    /** §3.5: instances labelled `easyenclave=managed` across zones (aggregated list, all pages). */
    async listManagedGcpInstances(): Promise<{ instances: ManagedInstance[] }> {
      const c = await gcpClients(settings);
      const out: ManagedInstance[] = [];
      for await (const [, scoped] of c.instances.aggregatedListAsync({
        project: c.project,
        maxResults: 500,
        filter: 'labels.easyenclave = managed',
      })) {
        for (const i of scoped.instances ?? []) {
          const labels = (i.labels ?? {}) as Record<string, string>;
          if (labels.easyenclave !== 'managed') continue;
          const zone =
            String(i.zone ?? '')
              .split('/')
              .pop() ?? '';
          out.push({
            name: String(i.name ?? ''),
            zone,
            datacenter: zone ? `gcp:${zone}` : 'gcp',
            status: lower(String(i.status ?? '')),
            creation_timestamp: i.creationTimestamp ? String(i.creationTimestamp) : null,
            labels,
          });
        }
      }
      return { instances: out.filter((i) => isGcpDatacenter(i.datacenter)) };
    },
  };
}

export type GcpActivities = ReturnType<typeof createGcpActivities>;
