/** Request/response shapes of the deploy routes (api/routes/deploy.ts, catalog-deploy.ts), declared once (validation + OpenAPI). */
import { LISTS, cursorParam } from '../http/pagination';
import { z } from 'zod';
import { NODE_SIZES } from '../../core/placement';
import { MIN_BILLABLE } from '../../core/pricing';
import { EncryptedDeployFields } from './deploy-secrets';

const dcEntry = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]*(:[a-z0-9][a-z0-9._-]*)?$/, 'datacenter must look like <cloud> or <cloud>:<zone>');
const cloudEntry = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'cloud must be a single token such as gcp, azure, baremetal');

export const DeployBody = z.object({
  compose: z
    .string()
    .min(1, 'compose is required')
    .describe('docker-compose YAML, as text or base64 (v1 actions send base64)'),
  app_name: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'app_name: letters, digits, . _ - (max 128)')
    .optional(),
  app_version: z.string().max(128).optional(),
  config: z.record(z.string(), z.unknown()).optional().default({}),
  agent_id: z.string().nullish().describe('Explicit agent: a free agent you may use, or an upgrade of the same app'),
  node_size: z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => v === '' || (NODE_SIZES as readonly string[]).includes(v), {
      message: `node_size must be empty or one of ${NODE_SIZES.join(', ')}`,
    })
    .optional()
    .default(''),
  dry_run: z.boolean().optional().default(false),
  allowed_datacenters: z.array(dcEntry).max(100).optional().default([]),
  denied_datacenters: z.array(dcEntry).max(100).optional().default([]),
  allowed_clouds: z.array(cloudEntry).max(20).optional().default([]),
  denied_clouds: z.array(cloudEntry).max(20).optional().default([]),
  allow_measuring_enclave_fallback: z.boolean().optional().default(false),
  sla_class: z.string().max(32).optional().default('adhoc'),
  machine_size: z.string().max(32).optional().default('default'),
  cpu_vcpus: z
    .number()
    .min(MIN_BILLABLE.cpuVcpus, `cpu_vcpus must be at least ${MIN_BILLABLE.cpuVcpus} (the smallest billable unit)`)
    .max(1024)
    .optional()
    .default(2),
  memory_gb: z
    .number()
    .min(MIN_BILLABLE.memoryGb, `memory_gb must be at least ${MIN_BILLABLE.memoryGb} (the smallest billable unit)`)
    .max(16384)
    .optional()
    .default(4),
  gpu_count: z.number().int().min(0).max(64).optional().default(0),
  ...EncryptedDeployFields,
});
export type DeployInput = z.output<typeof DeployBody>;

const Issue = z.object({
  code: z.string(),
  message: z.string(),
  agent_id: z.string().nullable(),
  node_size: z.string().nullable(),
  datacenter: z.string().nullable(),
});
export const Preflight = z.object({
  dry_run: z.literal(true),
  eligible: z.boolean(),
  selected_agent_id: z.string().nullable(),
  selected_node_size: z.string().nullable(),
  selected_datacenter: z.string().nullable(),
  selected_cloud: z.string().nullable(),
  reason: z.string().describe('Why the agent was chosen, or why none was'),
  owner_scope: z.string(),
  issues: z.array(Issue),
});
export const DeployAccepted = z.object({
  deployment_id: z.string(),
  agent_id: z.string().nullable().describe('null when accepted before an agent was chosen: follow Location'),
  status: z.string(),
  workflow_id: z.string(),
});
export const DeploymentView = z.object({
  deployment_id: z.string(),
  agent_id: z.string(),
  status: z.string(),
  app_name: z.string().nullable(),
  app_version: z.string().nullable(),
  account_id: z.string().nullable(),
  compose: z
    .string()
    .nullable()
    .describe('base64 compose; null unless the caller is the deployment’s account, its OIDC owner or an admin'),
  config: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('Request config; null unless the caller is the deployment’s account, its OIDC owner or an admin'),
  service_id: z.string().nullable(),
  attestation: z.unknown(),
  error: z.string().nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  sla_class: z.string(),
  machine_size: z.string(),
  cpu_vcpus: z.number(),
  memory_gb: z.number(),
  gpu_count: z.number(),
  last_charge_time: z.string().nullable(),
  total_charged: z.number().describe('USD'),
});

const Reassignment = z.object({
  from_agent_id: z.string(),
  to_agent_id: z.string().nullable().describe('null while no agent has taken it (or when the move failed)'),
  at: z.string().describe('When the move began; billing stopped on the old agent here'),
  reason: z.string(),
  completed_at: z.string().nullable(),
  outcome: z.string().nullable().describe('null while in progress; running | failed | stopped'),
});
export const DeploymentDetail = DeploymentView.extend({
  reassignments: z
    .array(Reassignment)
    .describe('Failovers of this deployment, oldest first: from which agent to which, when and why'),
});

export const DeploymentsQuery = z.object({
  status: z.string().optional(),
  agent_id: z.string().optional(),
  // v1's bounds (1-1000, default 500 rows) stay, for v1 clients; giving it is cursor mode.
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .describe('At most this many (1-1000; default 500); with limit or cursor the response carries next_cursor'),
  cursor: cursorParam(LISTS.deployments),
});

export const AgentUndeployed = z.object({
  status: z.literal('undeployed'),
  agent_id: z.string(),
  deployment_id: z.string().nullable(),
});
