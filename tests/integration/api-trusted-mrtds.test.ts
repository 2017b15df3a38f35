import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const ENV_MRTD = 'e'.repeat(96);
const M1 = 'a1'.repeat(48);

describe('trusted MRTDs', () => {
  let stack: Stack;
  let token: string;
  beforeAll(async () => {
    stack = await startStack({ env: { TRUSTED_AGENT_MRTDS: ` ${ENV_MRTD.toUpperCase()} ` } });
    token = await adminLogin(stack.url);
  });
  afterAll(() => stack?.close());

  it('add, list (admin and public), update note, delete', async () => {
    const api = http(stack.url);
    const add = await api.post('/api/v1/admin/trusted-mrtds', {
      token,
      json: { mrtd: M1.toUpperCase(), type: 'proxy', note: 'v1 image' },
    });
    expect(add.status).toBe(200);
    expect(add.body).toEqual({ mrtd: M1, type: 'proxy', note: 'v1 image' });

    const keep = await api.post('/api/v1/admin/trusted-mrtds', { token, json: { mrtd: M1, type: 'agent' } });
    expect(keep.body).toEqual({ mrtd: M1, type: 'agent', note: 'v1 image' });

    const admin = await api.get('/api/v1/admin/trusted-mrtds', { token });
    expect(admin.body.total).toBe(1);
    expect(admin.body.trusted_mrtds[0]).toMatchObject({
      mrtd: M1,
      type: 'agent',
      note: 'v1 image',
      added_at: expect.any(String),
    });

    const pub = await api.get('/api/v1/trusted-mrtds');
    expect(pub.body.total).toBe(2);
    expect(pub.body.trusted_mrtds).toEqual(
      expect.arrayContaining([
        { mrtd: ENV_MRTD, type: 'agent' },
        { mrtd: M1, type: 'agent' },
      ]),
    );

    const del = await api.delete(`/api/v1/admin/trusted-mrtds/${M1}`, { token });
    expect(del.body).toEqual({ status: 'deleted', mrtd: M1 });
    expect(await stack.db('trusted_mrtds').where({ mrtd: M1 }).first()).toBeUndefined();
    const again = await api.delete(`/api/v1/admin/trusted-mrtds/${M1}`, { token });
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ detail: 'MRTD not found' });
  });

  it('rejects bad input with 422 (the schema) and stores nothing', async () => {
    const api = http(stack.url);
    const cases: [unknown, (string | number)[]][] = [
      [{}, ['body', 'mrtd']],
      [{ mrtd: null }, ['body', 'mrtd']],
      [{ mrtd: '  ' }, ['body', 'mrtd']],
      [{ mrtd: 'abc' }, ['body', 'mrtd']],
      [{ mrtd: 'g'.repeat(96) }, ['body', 'mrtd']],
      [{ mrtd: M1, type: 'vm' }, ['body', 'type']],
      [{ mrtd: M1, mrtd_type: 'vm' }, ['body', 'mrtd_type']],
    ];
    for (const [json, loc] of cases) {
      const res = await api.post('/api/v1/admin/trusted-mrtds', { token, json });
      expect(res.status, JSON.stringify(json)).toBe(422);
      expect(res.body.detail).toMatchObject([{ loc }]);
    }
    expect(await stack.db('trusted_mrtds').count({ n: '*' })).toEqual([{ n: 0 }]);
    const anon = await api.post('/api/v1/admin/trusted-mrtds', { json: { mrtd: M1 } });
    expect(anon.status).toBe(401);
  });
});
