import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { mergeTrustedMrtds } from '../../core/attestation/policy';
import { notFound } from '../http/errors';
import { normalizeMrtd } from '../../core/mrtd';
import { getTrustedMrtd, listTrustedMrtds } from '../../core/stores/trusted-mrtds';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { actorOf, runAdminWorkflow } from './admin-workflow';

const MrtdType = z.enum(['agent', 'proxy']);
const AdminMrtd = z.object({ mrtd: z.string(), type: MrtdType, note: z.string(), added_at: z.string() });

/** 96 hex characters, any case (stored lower-cased). */
const MRTD_INPUT_RE = /^[0-9A-Fa-f]{96}$/;

export function trustedMrtdRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'get',
      path: '/api/v1/trusted-mrtds',
      summary: 'Effective trusted MRTD baselines (environment and database merged, database wins)',
      tag: 'attestation',
      auth: 'none',
      responses: {
        200: {
          description: 'Trust list',
          schema: z.object({
            trusted_mrtds: z.array(z.object({ mrtd: z.string(), type: MrtdType })),
            total: z.number(),
          }),
        },
      },
    },
    async () => {
      const merged = mergeTrustedMrtds(deps.config.trustedMrtdEnv, await listTrustedMrtds(deps.db));
      const trusted_mrtds = [...merged].map(([mrtd, type]) => ({ mrtd, type }));
      return { trusted_mrtds, total: trusted_mrtds.length };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/trusted-mrtds',
      summary: 'Trusted MRTDs stored in the database (not the environment ones)',
      tag: 'admin',
      auth: 'admin',
      responses: {
        200: {
          description: 'Ordered by added_at',
          schema: z.object({ trusted_mrtds: z.array(AdminMrtd), total: z.number() }),
        },
      },
    },
    async () => {
      const rows = await listTrustedMrtds(deps.db);
      return { trusted_mrtds: rows, total: rows.length };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/admin/trusted-mrtds',
      summary: 'Add or update a trusted MRTD; runs a changeTrustedMrtd workflow',
      tag: 'admin',
      auth: 'admin',
      body: z.object({
        mrtd: z.string().regex(MRTD_INPUT_RE, 'mrtd must be a 96-character hex string').describe('96 hex characters'),
        type: MrtdType.optional().describe("'agent' (default) or 'proxy'"),
        mrtd_type: MrtdType.optional().describe('v1 name of type'),
        note: z.string().max(1024).optional(),
      }),
      responses: {
        200: { description: 'Stored', schema: z.object({ mrtd: z.string(), type: MrtdType, note: z.string() }) },
        422: { description: 'Missing or malformed mrtd, bad type' },
      },
    },
    async ({ body }, ctx) => {
      const mrtd = normalizeMrtd(body.mrtd);
      const type = body.type ?? body.mrtd_type ?? 'agent';
      const result = await runAdminWorkflow(deps, () =>
        deps.workflows.changeTrustedMrtd(
          { action: 'upsert', mrtd, type, note: (body.note ?? '').trim(), actor: actorOf(ctx) },
          randomUUID(),
        ),
      );
      return { mrtd: result.mrtd, type: result.type!, note: result.note ?? '' };
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/api/v1/admin/trusted-mrtds/:mrtd',
      summary: 'Remove a trusted MRTD from the database; runs a changeTrustedMrtd workflow',
      tag: 'admin',
      auth: 'admin',
      params: z.object({ mrtd: z.string() }),
      responses: {
        200: { description: 'Deleted', schema: z.object({ status: z.literal('deleted'), mrtd: z.string() }) },
        404: { description: 'MRTD not found' },
      },
    },
    async ({ params }, ctx) => {
      const mrtd = normalizeMrtd(params.mrtd);
      if (!(await getTrustedMrtd(deps.db, mrtd))) throw notFound('MRTD not found');
      const result = await runAdminWorkflow(deps, () =>
        deps.workflows.changeTrustedMrtd({ action: 'delete', mrtd, actor: actorOf(ctx) }, randomUUID()),
      );
      if (!result.found) throw notFound('MRTD not found');
      return { status: 'deleted' as const, mrtd };
    },
  );
}
