/** App revenue-share rules (api.md §6, billing.md §4.4). */
import { z } from 'zod';
import { conflict, notFound } from '../http/errors';
import {
  appExists,
  createRevenueShare,
  deleteRevenueShare,
  listRevenueShares,
  percent,
} from '../../core/stores/revenue-shares';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

const Share = z.object({
  share_id: z.string(),
  app_name: z.string(),
  account_id: z.string(),
  account_name: z.string().nullable(),
  github_login: z.string().nullable(),
  share_bps: z.number().int(),
  share_percent: z.number(),
  label: z.string(),
  created_at: z.string(),
});
const AppParam = z.object({ name: z.string().min(1) });

export function revenueShareRoutes(routes: Routes, deps: AppDeps): void {
  const requireApp = async (name: string) => {
    if (!(await appExists(deps.db, name))) throw notFound('App not found');
  };

  routes.add(
    {
      method: 'get',
      path: '/api/v1/apps/:name/revenue-shares',
      summary: 'Contributor revenue-share rules of an app (created_at order)',
      tag: 'revenue-shares',
      auth: 'none',
      params: AppParam,
      responses: {
        200: {
          description: 'Rules and their total',
          schema: z.object({
            app_name: z.string(),
            total_bps: z.number().int(),
            total_percent: z.number(),
            shares: z.array(Share),
          }),
        },
        404: { description: 'App not found' },
      },
    },
    async ({ params }) => {
      await requireApp(params.name);
      const shares = await listRevenueShares(deps.db, params.name);
      const total = shares.reduce((a, s) => a + s.share_bps, 0);
      return { app_name: params.name, total_bps: total, total_percent: percent(total), shares };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/apps/:name/revenue-shares',
      summary: 'Add a revenue-share rule (contributor/agent account; the app total stays within 10000 bps)',
      tag: 'revenue-shares',
      auth: 'admin',
      params: AppParam,
      body: z.object({
        account_id: z.string().min(1),
        share_bps: z.number().int().min(1).max(10_000),
        label: z.string().max(256).default(''),
      }),
      responses: {
        200: { description: 'The new rule', schema: Share },
        409: { description: "The account is not a contributor/agent one, or the app's total would exceed 10000 bps" },
        404: { description: 'App or account not found' },
      },
    },
    async ({ params, body }) => {
      const r = await createRevenueShare(deps.db, {
        appName: params.name,
        accountId: body.account_id,
        shareBps: body.share_bps,
        label: body.label,
      });
      if ('error' in r) {
        switch (r.error) {
          case 'app_not_found':
            throw notFound('App not found');
          case 'account_not_found':
            throw notFound('Account not found');
          case 'bad_account_type':
            throw conflict("Revenue share account_type must be 'contributor' or 'agent'");
          case 'over_total':
            throw conflict(`Revenue share total exceeds 10000 bps: current=${r.current}, requested=${r.requested}`);
        }
      }
      return r;
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/api/v1/apps/:name/revenue-shares/:share_id',
      summary: 'Delete a revenue-share rule of this app',
      tag: 'revenue-shares',
      auth: 'admin',
      params: z.object({ name: z.string().min(1), share_id: z.string().min(1) }),
      responses: {
        200: {
          description: 'Deleted',
          schema: z.object({ status: z.literal('deleted'), share_id: z.string(), app_name: z.string() }),
        },
        404: { description: 'App or rule not found' },
      },
    },
    async ({ params }) => {
      await requireApp(params.name);
      if (!(await deleteRevenueShare(deps.db, params.name, params.share_id))) throw notFound('Revenue share not found');
      return { status: 'deleted' as const, share_id: params.share_id, app_name: params.name };
    },
  );
}
