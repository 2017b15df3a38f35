/**
 * v1's catalog deploy paths (api.md §4), kept as authenticated aliases of POST /api/v1/deploy: the compose comes
 * from the published app version — the measured one, with every image pinned to `repository@sha256:…`, so a tag
 * moved after measurement changes nothing — and the version must fit the target agent (api.md §4.4).
 */
import type { Context } from 'koa';
import { z } from 'zod';
import type { AgentRow } from '../../core/db/tables';
import { badRequest, notFound } from '../http/errors';
import { DEPLOYABLE_STATUSES, appExists, findVersionVariant, type AppVersion } from '../../core/stores/apps';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { callerOf, type DeployFn } from './deploy';
import { DeployBody, Preflight, type DeployInput } from './deploy-schemas';

const AliasBody = DeployBody.omit({ compose: true, app_name: true, app_version: true });
const AppVersionParams = z.object({ name: z.string(), version: z.string() });

/** api.md §4.4: null when the version may run on the agent, else the refusal. */
export function measurementMismatch(
  appName: string,
  v: Pick<AppVersion, 'version' | 'node_size' | 'mrtd' | 'attestation'>,
  agent: Pick<AgentRow, 'node_size' | 'mrtd'>,
): string | null {
  const m = v.attestation;
  const target = agent.node_size ?? '';
  if (v.node_size && !m) {
    return `Version '${v.version}' for node_size='${v.node_size}' is attested but missing measurement payload`;
  }
  if (!m) return null;
  const measuredSize = typeof m.node_size === 'string' ? m.node_size : '';
  if (measuredSize && measuredSize !== target) {
    return `Measurement node_size mismatch for '${appName}@${v.version}': attested '${measuredSize}', target agent '${target}'`;
  }
  if (m.measurement_type === 'agent_reference') {
    if (!v.mrtd) return `Measurement for '${appName}@${v.version}' is an agent reference without an MRTD`;
    if (!measuredSize) return `Measurement for '${appName}@${v.version}' is an agent reference without a node_size`;
    if (agent.mrtd && agent.mrtd.toLowerCase() !== v.mrtd.toLowerCase()) {
      return `Measurement MRTD mismatch for '${appName}@${v.version}': version MRTD ${v.mrtd.slice(0, 16)}..., agent MRTD ${agent.mrtd.slice(0, 16)}...`;
    }
  }
  return null;
}

export function catalogDeployRoutes(routes: Routes, deps: AppDeps, deploy: DeployFn): void {
  const fromCatalog = async (
    params: z.infer<typeof AppVersionParams>,
    body: z.output<typeof AliasBody>,
  ): Promise<DeployInput> => {
    if (!(await appExists(deps.db, params.name))) throw notFound(`App '${params.name}' not found`);
    const v = await findVersionVariant(deps.db, params.name, params.version, body.node_size);
    if (!v) {
      throw notFound(`No version '${params.version}' for app '${params.name}' with node_size='${body.node_size}'`);
    }
    if (v.status === 'rejected' || v.status === 'failed') {
      throw badRequest(`Version '${v.version}' was rejected: ${v.rejection_reason ?? ''}`);
    }
    if (!DEPLOYABLE_STATUSES.includes(v.status)) {
      throw badRequest(`Version '${v.version}' is not attested (status: ${v.status})`);
    }
    if (body.agent_id) {
      const agent = (await deps.db<AgentRow>('agents').where({ agent_id: body.agent_id }).first()) as
        AgentRow | undefined;
      const why = agent ? measurementMismatch(params.name, v, agent) : null;
      if (why) throw badRequest(why);
    }
    return {
      ...body,
      // A size-specific variant only runs on agents of that size.
      node_size: v.node_size || body.node_size,
      // The measured compose (images pinned); a version attested by hand without a measurement runs as published.
      compose: v.pinned_compose ?? v.compose,
      app_name: params.name,
      app_version: v.version,
    };
  };

  for (const [suffix, dry] of [
    ['', false],
    ['/preflight', true],
  ] as const) {
    routes.add(
      {
        method: 'post',
        path: `/api/v1/apps/:name/versions/:version/deploy${suffix}`,
        summary: `v1 alias of POST /api/v1/deploy${suffix} for a published catalog version (images pinned to digests)`,
        tag: 'deployments',
        auth: 'deployer',
        params: AppVersionParams,
        body: AliasBody,
        responses: dry
          ? { 200: { description: 'Preflight', schema: Preflight } }
          : {
              200: { description: 'Dry run: the preflight object', schema: Preflight },
              202: { description: 'Accepted (see POST /api/v1/deploy)' },
              400: { description: 'Version rejected / not published / does not fit the agent' },
              401: { description: 'Missing or invalid API key / OIDC token' },
              404: { description: 'App or version not found' },
              503: { description: 'No eligible agents' },
            },
      },
      async ({ params, body }, ctx: Context) => {
        await callerOf(deps, ctx); // 401/403 before any catalog look-up
        return deploy(await fromCatalog(params, body), ctx, dry);
      },
    );
  }
}
