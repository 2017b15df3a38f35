import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../../core/settings/registry';
import { decodeHistory, historyText, recordHistory } from '../helpers/histories';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

async function completedRuns(stack: Stack, type: string): Promise<{ workflowId: string; status: string }[]> {
  // Visibility is eventually consistent; poll briefly.
  for (let i = 0; i < 40; i++) {
    const runs: { workflowId: string; status: string }[] = [];
    for await (const w of stack.client.workflow.list({
      query: `WorkflowType = '${type}' AND TaskQueue = '${stack.taskQueue}'`,
    })) {
      runs.push({ workflowId: w.workflowId, status: w.status.name });
    }
    if (runs.length > 0 && runs.every((r) => r.status !== 'RUNNING')) return runs;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no completed ${type} runs visible`);
}

describe('admin settings', () => {
  let stack: Stack;
  let token: string;
  beforeAll(async () => {
    stack = await startStack({
      env: {
        CLOUDFLARE_API_TOKEN: 'cf-token-abcdefghijklmnop',
        EASYENCLAVE_DOMAIN: 'env.example.com',
        STRIPE_WEBHOOK_SECRET: 'short',
      },
    });
    token = await adminLogin(stack.url);
  });
  afterAll(() => stack?.close());

  it('lists every registered setting in order with secrets masked', async () => {
    const res = await http(stack.url).get('/api/v1/admin/settings', { token });
    expect(res.status).toBe(200);
    const list = res.body.settings as Record<string, unknown>[];
    expect(list.map((s) => s.key)).toEqual(SETTINGS.map((s) => s.key));
    const cf = list.find((s) => s.key === 'cloudflare.api_token')!;
    expect(cf).toMatchObject({
      value: 'cf-t****mnop',
      source: 'env',
      is_secret: true,
      env_var: 'CLOUDFLARE_API_TOKEN',
      default: '',
    });
    expect(list.find((s) => s.key === 'stripe.webhook_secret')!.value).toBe('****');
    expect(JSON.stringify(list)).not.toContain('cf-token-abcdefghijklmnop');
    const grouped = await http(stack.url).get('/api/v1/admin/settings?group=stripe', { token });
    expect(grouped.body.settings.map((s: { key: string }) => s.key)).toEqual([
      'stripe.secret_key',
      'stripe.webhook_secret',
      'stripe.api_url',
    ]);
  });

  it('PUT wins over env, DELETE reverts to env then default; each change is a workflow run', async () => {
    const api = http(stack.url);
    const get = async (key: string) =>
      (
        (await api.get('/api/v1/admin/settings', { token })).body.settings as {
          key: string;
          value: string;
          source: string;
        }[]
      ).find((s) => s.key === key)!;
    expect(await get('cloudflare.domain')).toMatchObject({ value: 'env.example.com', source: 'env' });

    const put = await api.put('/api/v1/admin/settings/cloudflare.domain', { token, json: { value: 'db.example.com' } });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ key: 'cloudflare.domain', status: 'saved' });
    expect(await get('cloudflare.domain')).toMatchObject({ value: 'db.example.com', source: 'db' });
    expect((await stack.db('settings').where({ key: 'cloudflare.domain' }).first()).value).toBe('db.example.com');

    const del = await api.delete('/api/v1/admin/settings/cloudflare.domain', { token });
    expect(del.body).toEqual({ key: 'cloudflare.domain', status: 'reset' });
    expect(await get('cloudflare.domain')).toMatchObject({ value: 'env.example.com', source: 'env' });

    await api.put('/api/v1/admin/settings/operational.agent_stale_hours', { token, json: { value: 48 } });
    expect(await get('operational.agent_stale_hours')).toMatchObject({ value: '48', source: 'db' });
    await api.delete('/api/v1/admin/settings/operational.agent_stale_hours', { token });
    expect(await get('operational.agent_stale_hours')).toMatchObject({ value: '24', source: 'default' });

    const runs = await completedRuns(stack, 'changeSetting');
    expect(runs).toHaveLength(4);
    await recordHistory(stack.client, runs[0]!.workflowId, 'admin', 'change-setting');
    expect(runs.every((r) => r.status === 'COMPLETED')).toBe(true);
    expect(runs.every((r) => r.workflowId.startsWith('admin-setting:'))).toBe(true);
  });

  it('a secret value reaches the DB but never the workflow history in clear', async () => {
    const secret = 'whsec_super_secret_value_123456';
    const res = await http(stack.url).put('/api/v1/admin/settings/stripe.webhook_secret', {
      token,
      json: { value: secret },
    });
    expect(res.status).toBe(200);
    expect((await stack.db('settings').where({ key: 'stripe.webhook_secret' }).first()).value).toBe(secret);
    const runs = await completedRuns(stack, 'changeSetting');
    const id = runs.find((r) => r.workflowId.startsWith('admin-setting:stripe.webhook_secret:'))!.workflowId;
    const history = await stack.client.workflow.getHandle(id).fetchHistory();
    // What the server holds: every payload encrypted, so not even the masked value shows…
    const raw = historyText(history);
    expect(raw).not.toContain('whse****3456');
    expect(raw).not.toContain(secret);
    // …and decoded with the install's key, the masked value is there but the secret still is not.
    const text = historyText(await decodeHistory(history, stack.client.options.loadedDataConverter.payloadCodecs));
    expect(text).toContain('whse****3456');
    expect(text).not.toContain(secret);
  });

  it('bad input changes nothing', async () => {
    const api = http(stack.url);
    const unknown = await api.put('/api/v1/admin/settings/no.such.key', { token, json: { value: 'x' } });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: 'Unknown setting: no.such.key' });
    expect((await api.delete('/api/v1/admin/settings/no.such.key', { token })).status).toBe(404);

    const missing = await api.put('/api/v1/admin/settings/cloudflare.domain', { token, json: { other: 1 } });
    expect(missing.status).toBe(422);
    expect(missing.body.detail).toMatchObject([{ loc: ['body', 'value'] }]);
    const nul = await api.put('/api/v1/admin/settings/cloudflare.domain', { token, json: { value: null } });
    expect(nul.status).toBe(422);

    const malformed = await api.put('/api/v1/admin/settings/cloudflare.domain', { token, raw: '{value:' });
    expect(malformed.status).toBe(400);
    expect(await stack.db('settings').where({ key: 'cloudflare.domain' }).first()).toBeUndefined();

    const anon = await api.put('/api/v1/admin/settings/cloudflare.domain', { json: { value: 'x' } });
    expect(anon.status).toBe(401);
    expect(await stack.db('settings').where({ key: 'cloudflare.domain' }).first()).toBeUndefined();
  });
});
