import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { seal } from '../../core/auth/seal';
import { notFound, unprocessable } from '../http/errors';
import { SETTING_GROUPS, findSetting, maskSecret } from '../../core/settings/registry';
import { settingValueProblem } from '../../core/settings/validate';
import type { SettingValue } from '../../workflows/contracts/admin';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { actorOf, runAdminWorkflow } from './admin-workflow';

const SettingView = z.object({
  key: z.string(),
  value: z.string(),
  source: z.enum(['db', 'env', 'default']),
  is_secret: z.boolean(),
  description: z.string(),
  group: z.enum(SETTING_GROUPS),
  env_var: z.string(),
  default: z.string(),
});
const KeyParam = z.object({ key: z.string() });

/** The string form a JSON value is stored as. */
function settingString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function requireSetting(key: string) {
  const def = findSetting(key);
  if (!def) throw notFound(`Unknown setting: ${key}`);
  return def;
}

export function adminSettingsRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/settings',
      summary: 'Every setting with its effective value (secrets masked) and source',
      tag: 'admin',
      auth: 'admin',
      query: z.object({ group: z.string().optional().describe('Exact group name filter') }),
      responses: { 200: { description: 'Registry order', schema: z.object({ settings: z.array(SettingView) }) } },
    },
    async ({ query }) => ({ settings: await deps.settings.list(query.group) }),
  );

  routes.add(
    {
      method: 'put',
      path: '/api/v1/admin/settings/:key',
      summary:
        'Store a DB value for a setting (wins over env and default), checked against its kind; runs a changeSetting workflow',
      tag: 'admin',
      auth: 'admin',
      params: KeyParam,
      body: z.object({
        value: z
          .union([z.string(), z.number(), z.boolean(), z.array(z.unknown()), z.record(z.string(), z.unknown())])
          .describe('Stored as text: a string as is, anything else as JSON'),
      }),
      responses: {
        200: { description: 'Saved', schema: z.object({ key: z.string(), status: z.literal('saved') }) },
        404: { description: 'Unknown setting' },
        422: { description: 'Missing value, or a value the setting’s kind refuses (boolean, number, rate limit)' },
      },
    },
    async ({ params, body }, ctx) => {
      const def = requireSetting(params.key);
      const plain = settingString(body.value);
      const problem = settingValueProblem(def, plain);
      if (problem) throw unprocessable(problem);
      const value: SettingValue = def.secret ? seal(deps.sealingKey, plain) : { plain };
      await runAdminWorkflow(deps, () =>
        deps.workflows.changeSetting(
          { action: 'put', key: def.key, value, display: def.secret ? maskSecret(plain) : plain, actor: actorOf(ctx) },
          randomUUID(),
        ),
      );
      deps.settings.invalidate();
      return { key: def.key, status: 'saved' as const };
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/api/v1/admin/settings/:key',
      summary: 'Remove the DB value of a setting (reverts to env, then default); runs a changeSetting workflow',
      tag: 'admin',
      auth: 'admin',
      params: KeyParam,
      responses: {
        200: { description: 'Reset', schema: z.object({ key: z.string(), status: z.literal('reset') }) },
        404: { description: 'Unknown setting' },
      },
    },
    async ({ params }, ctx) => {
      const def = requireSetting(params.key);
      await runAdminWorkflow(deps, () =>
        deps.workflows.changeSetting(
          { action: 'delete', key: def.key, display: '', actor: actorOf(ctx) },
          randomUUID(),
        ),
      );
      deps.settings.invalidate();
      return { key: def.key, status: 'reset' as const };
    },
  );
}
