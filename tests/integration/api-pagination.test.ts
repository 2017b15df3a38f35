/**
 * Cursor pagination and conditional GETs on the list endpoints (README "Pagination and conditional reads"), on SQLite
 * and, with TEST_DATABASE_URL, PostgreSQL: walking every page gives exactly the unpaginated list (no duplicates, no
 * gaps — also with rows inserted between two pages), malformed cursors and out-of-range limits are 422 `{detail}`,
 * the v1 shape is untouched without `limit`/`cursor`, and `If-None-Match` answers 304 until the data changes.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendLedgerEntries } from '../../core/stores/ledger';
import { testEngines } from '../helpers/databases';
import { seedAccount, seedAgent, seedDeployment } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

/** `n` ISO timestamps, `perTick` rows sharing each one (ties are broken by the id part of the sort key). */
const times = (n: number, perTick: number, from = Date.parse('2026-11-01T00:00:00.000Z')) =>
  Array.from({ length: n }, (_, i) => new Date(from + Math.floor(i / perTick) * 1000).toISOString());

for (const engine of testEngines()) {
  describe(`list pagination and ETags (${engine})`, () => {
    let stack: Stack;
    let admin: string;
    const api = () => http(stack.url);

    /** Follows next_cursor from the first page of `path` (already carrying `?limit=…`), collecting `field`. */
    async function walk<T>(
      path: string,
      field: string,
      opts: { token?: string; between?: (page: number) => Promise<void> } = {},
    ): Promise<T[]> {
      const out: T[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 1000; page++) {
        const sep = path.includes('?') ? '&' : '?';
        const res = await api().get(cursor ? `${path}${sep}cursor=${cursor}` : path, { token: opts.token });
        expect(res.status, res.text).toBe(200);
        expect(res.body).toHaveProperty('next_cursor');
        out.push(...(res.body[field] as T[]));
        cursor = res.body.next_cursor as string | null;
        if (cursor === null) return out;
        await opts.between?.(page);
      }
      throw new Error(`${path}: more than 1000 pages`);
    }

    beforeAll(async () => {
      stack = await startStack({ engine });
      admin = await adminLogin(stack.url);
    });
    afterAll(() => stack?.close());

    it('agents: every page walked is the unpaginated list, ties on registered_at included', async () => {
      const at = times(23, 4);
      for (const registered_at of at) await seedAgent(stack.db, { registered_at });
      const all = (await api().get('/api/v1/agents')).body.agents.map((a: { agent_id: string }) => a.agent_id);
      expect(all).toHaveLength(23);
      const walked = await walk<{ agent_id: string }>('/api/v1/agents?limit=5', 'agents');
      expect(walked.map((a) => a.agent_id)).toEqual(all);
      // limit = exactly the count: one full page, then next_cursor null on an empty second page or at once.
      expect((await walk<{ agent_id: string }>('/api/v1/agents?limit=23', 'agents')).length).toBe(23);
      // A filter applies to every page.
      const filtered = await walk<{ status: string }>('/api/v1/agents?limit=3&status=undeployed', 'agents');
      expect(filtered.length).toBe(23);
    });

    it('agents: rows inserted between pages neither repeat nor hide rows already listed', async () => {
      const before = (await api().get('/api/v1/agents')).body.agents.map((a: { agent_id: string }) => a.agent_id);
      const late: string[] = [];
      const early: string[] = [];
      const walked = await walk<{ agent_id: string }>('/api/v1/agents?limit=4', 'agents', {
        between: async (page) => {
          if (page > 2) return;
          // One after every listed row (must show up at the end), one before the cursor (must not show up).
          late.push((await seedAgent(stack.db, { registered_at: `2027-01-0${page + 1}T00:00:00.000Z` })).agent_id);
          early.push((await seedAgent(stack.db, { registered_at: '2020-01-01T00:00:00.000Z' })).agent_id);
        },
      });
      const ids = walked.map((a) => a.agent_id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual([...before, ...late]);
      for (const id of early) expect(ids).not.toContain(id);
    });

    it('deployments (newest first), accounts, transactions, apps and launch orders walk like the v1 list', async () => {
      const agentId = (await seedAgent(stack.db)).agent_id;
      for (const created_at of times(13, 3)) await seedDeployment(stack.db, { agent_id: agentId, created_at });
      const deployments = (await api().get('/api/v1/deployments', { token: admin })).body.deployments;
      const walkedDeployments = await walk('/api/v1/deployments?limit=4', 'deployments', { token: admin });
      expect(walkedDeployments).toEqual(deployments);
      expect(deployments.length).toBe(13);

      for (const created_at of times(9, 2)) await seedAccount(stack.db, { created_at });
      const accounts = (await api().get('/api/v1/accounts', { token: admin })).body.accounts;
      expect(await walk('/api/v1/accounts?limit=2', 'accounts', { token: admin })).toEqual(accounts);

      const created = await api().post('/api/v1/accounts', {
        json: { name: `tx-${randomUUID()}`, account_type: 'deployer' },
      });
      expect(created.status).toBe(200);
      const { account_id, api_key } = created.body as { account_id: string; api_key: string };
      // Five appends of three entries each: entries of one append share created_at (seq orders them).
      for (let i = 0; i < 5; i++) {
        await appendLedgerEntries(
          stack.db,
          [1, 2, 3].map((n) => ({
            accountId: account_id,
            amount: n * 1000,
            txType: 'deposit' as const,
            description: `d${i}.${n}`,
          })),
        );
      }
      const txPath = `/api/v1/accounts/${account_id}/transactions`;
      const txs = (await api().get(`${txPath}?limit=200`, { token: api_key })).body;
      expect(txs.transactions).toHaveLength(15);
      expect(txs.total).toBe(15);
      const walkedTx = await walk<{ transaction_id: string }>(`${txPath}?limit=4`, 'transactions', { token: api_key });
      expect(walkedTx).toEqual(txs.transactions);
      // v1's default (50) and offset keep working; offset applies after the cursor.
      const v1 = (await api().get(`${txPath}?offset=3`, { token: api_key })).body;
      expect(Object.keys(v1).sort()).toEqual(['total', 'transactions']);
      expect(v1.transactions).toEqual(txs.transactions.slice(3));
      const first = (await api().get(`${txPath}?limit=2`, { token: api_key })).body;
      const skipped = (await api().get(`${txPath}?limit=2&offset=1&cursor=${first.next_cursor}`, { token: api_key }))
        .body;
      expect(skipped.transactions).toEqual(txs.transactions.slice(3, 5));

      for (const [i, created_at] of times(7, 2).entries()) {
        await stack.db('apps').insert({
          app_id: randomUUID(),
          name: `page-app-${i}`,
          tags: JSON.stringify(i % 2 === 0 ? ['even'] : ['odd']),
          created_at,
        });
      }
      const apps = (await api().get('/api/v1/apps')).body.apps;
      expect(await walk('/api/v1/apps?limit=3', 'apps')).toEqual(apps);
      // A tag filter drops rows in code; pages stay full until the last.
      const evens = (await api().get('/api/v1/apps?tags=even')).body.apps;
      expect(evens).toHaveLength(4);
      const firstEven = (await api().get('/api/v1/apps?tags=even&limit=3')).body;
      expect(firstEven.apps).toHaveLength(3);
      expect(await walk('/api/v1/apps?tags=even&limit=1', 'apps')).toEqual(evens);

      for (const created_at of times(6, 2)) {
        await stack.db('capacity_launch_orders').insert({
          order_id: randomUUID(),
          datacenter: 'gcp:us-central1-a',
          node_size: 'tiny',
          created_at,
          updated_at: created_at,
        });
      }
      const orders = (await api().get('/api/v1/admin/agents/capacity/orders', { token: admin })).body.orders;
      expect(orders).toHaveLength(6);
      expect(await walk('/api/v1/admin/agents/capacity/orders?limit=4', 'orders', { token: admin })).toEqual(orders);
    });

    it('without limit or cursor the v1 shape is unchanged; cursor alone pages by 100', async () => {
      const v1 = (await api().get('/api/v1/agents')).body;
      expect(Object.keys(v1).sort()).toEqual(['agents', 'total']);
      expect(v1.total).toBe(v1.agents.length);
      const dep = (await api().get('/api/v1/deployments', { token: admin })).body;
      expect(Object.keys(dep).sort()).toEqual(['deployments', 'total']);

      // 110+ agents: a cursor without limit gets the default page of 100.
      const rows = times(110, 10, Date.parse('2028-01-01T00:00:00.000Z')).map((registered_at, i) => ({
        agent_id: randomUUID(),
        vm_name: `bulk-${i}-${randomUUID().slice(0, 8)}`,
        status: 'undeployed',
        mrtd: 'a'.repeat(96),
        health_status: 'healthy',
        registered_at,
        last_heartbeat: registered_at,
        verified: true,
        node_size: 'tiny',
        datacenter: 'gcp:us-central1-a',
      }));
      await stack.db('agents').insert(rows);
      const one = (await api().get('/api/v1/agents?limit=1')).body;
      expect(one.agents).toHaveLength(1);
      expect(one.total).toBe(1);
      const next = (await api().get(`/api/v1/agents?cursor=${one.next_cursor}`)).body;
      expect(next.agents).toHaveLength(100);
      expect(typeof next.next_cursor).toBe('string');
    });

    it('bad cursors and limits out of bounds are 422 {detail}', async () => {
      const bad = [
        'not a cursor!',
        Buffer.from('{"a":1}').toString('base64url'),
        Buffer.from('["agents","x"]').toString('base64url'),
        Buffer.from('["agents",1,2]').toString('base64url'),
        'x'.repeat(600),
      ];
      // A well-formed cursor of another list (deployments) is refused by the agents list.
      const dep = (await api().get('/api/v1/deployments?limit=1', { token: admin })).body.next_cursor as string;
      expect(typeof dep).toBe('string');
      for (const cursor of [...bad, dep]) {
        const res = await api().get(`/api/v1/agents?cursor=${encodeURIComponent(cursor)}`);
        expect(res.status, cursor).toBe(422);
        expect(res.body.detail).toEqual([expect.objectContaining({ loc: ['query', 'cursor'] })]);
      }
      const txCursorOnAccounts = await api().get(`/api/v1/accounts?cursor=${dep}`, { token: admin });
      expect(txCursorOnAccounts.status).toBe(422);
      for (const limit of ['0', '-1', '501', 'abc', '1.5']) {
        const res = await api().get(`/api/v1/agents?limit=${limit}`);
        expect(res.status, limit).toBe(422);
        expect(res.body.detail).toEqual([expect.objectContaining({ loc: ['query', 'limit'] })]);
      }
      expect((await api().get('/api/v1/agents?limit=500')).status).toBe(200);
      expect((await api().get('/api/v1/deployments?limit=1001', { token: admin })).status).toBe(422);
    });

    it('If-None-Match answers 304 without a body until the list or the item changes', async () => {
      const first = await api().get('/api/v1/agents');
      const etag = first.headers.get('etag');
      expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]+"$/);
      const again = await api().get('/api/v1/agents', { headers: { 'if-none-match': etag! } });
      expect(again.status).toBe(304);
      expect(again.text).toBe('');
      // Another page, another tag.
      const page = await api().get('/api/v1/agents?limit=2');
      expect(page.headers.get('etag')).not.toBe(etag);

      const agentId = first.body.agents[0].agent_id as string;
      const one = await api().get(`/api/v1/agents/${agentId}`);
      const oneTag = one.headers.get('etag')!;
      expect((await api().get(`/api/v1/agents/${agentId}`, { headers: { 'if-none-match': oneTag } })).status).toBe(304);

      await stack.db('agents').where({ agent_id: agentId }).update({ health_status: 'unhealthy' });
      const changed = await api().get('/api/v1/agents', { headers: { 'if-none-match': etag! } });
      expect(changed.status).toBe(200);
      expect(changed.headers.get('etag')).not.toBe(etag);
      const oneChanged = await api().get(`/api/v1/agents/${agentId}`, { headers: { 'if-none-match': oneTag } });
      expect(oneChanged.status).toBe(200);
      expect(oneChanged.body.health_status).toBe('unhealthy');

      const depId = (await api().get('/api/v1/deployments?limit=1', { token: admin })).body.deployments[0]
        .deployment_id as string;
      const d = await api().get(`/api/v1/deployments/${depId}`, { token: admin });
      const dTag = d.headers.get('etag')!;
      expect(dTag).toBeTruthy();
      const d304 = await api().get(`/api/v1/deployments/${depId}`, {
        token: admin,
        headers: { 'if-none-match': dTag },
      });
      expect(d304.status).toBe(304);
      // The anonymous view omits compose and config: another body, another tag — never the owner's 304.
      const anon = await api().get(`/api/v1/deployments/${depId}`, { headers: { 'if-none-match': dTag } });
      expect(anon.status).toBe(200);
      await stack.db('deployments').where({ deployment_id: depId }).update({ status: 'stopped' });
      const dChanged = await api().get(`/api/v1/deployments/${depId}`, {
        token: admin,
        headers: { 'if-none-match': dTag },
      });
      expect(dChanged.status).toBe(200);
      expect(dChanged.body.status).toBe('stopped');
    });
  });
}
