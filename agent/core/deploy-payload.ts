/**
 * The CP → agent `POST /api/deploy` body as this agent accepts it (clients/agent-client.ts `AgentDeployPayload`,
 * plus `resources`, the paid-for limits, optional for older control planes).
 */
import { z } from 'zod';

export const Resources = z.object({
  cpu_vcpus: z.number().positive(),
  memory_gb: z.number().positive(),
  gpu_count: z.number().int().min(0).default(0),
});
export type Resources = z.infer<typeof Resources>;

export const DeployPayload = z.looseObject({
  deployment_id: z.string().trim().min(1, 'deployment_id is required'),
  app_name: z.string().default(''),
  datacenter: z.string().default(''),
  /** base64 of the docker-compose YAML. */
  compose: z.string().min(1, 'compose (base64 docker-compose YAML) is required'),
  /** filename → base64 content. */
  build_context: z.record(z.string(), z.string()).nullable().optional(),
  /** Environment for the compose file's interpolation, written to `.env` (0600). */
  env: z.record(z.string(), z.string()).nullable().optional(),
  config: z
    .looseObject({
      compose_up_args: z.string().optional(),
      health_endpoint: z.string().optional(),
      health_port: z.number().int().min(1).max(65535).optional(),
      env: z.record(z.string(), z.string()).optional(),
    })
    .default({}),
  resources: Resources.nullable().optional(),
  /**
   * HPKE envelope of the tenant's secret env (core/secrets/hpke-env.ts), sealed to this agent's key for this
   * deployment; opened only here and passed to `docker compose` through its environment, never written to disk.
   */
  encrypted_env: z
    .object({ enc: z.string().min(1).max(64), ct: z.string().min(1) })
    .nullable()
    .optional(),
});
export type DeployPayload = z.infer<typeof DeployPayload>;
