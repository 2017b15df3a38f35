import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deleteSetting, getSettingRow, listSettingRows, upsertSetting } from '../../core/stores/settings';
import { deleteTrustedMrtd, listTrustedMrtds, upsertTrustedMrtd } from '../../core/stores/trusted-mrtds';
import {
  deleteExpiredSessions,
  deleteSession,
  findSessionsByPrefix,
  insertSession,
  touchSession,
  type AdminSession,
} from '../../core/stores/admin-sessions';
import { isValidMrtd, normalizeMrtd, normalizeMrtdType } from '../../core/mrtd';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';

const MRTD_A = 'a'.repeat(96);
const MRTD_B = 'b'.repeat(96);

function session(over: Partial<AdminSession>): AdminSession {
  return {
    session_id: 's',
    token_hash: '$argon2id$v=19$m=19456,t=2,p=1$x$y',
    token_prefix: 'tok_prefix_1',
    created_at: '2026-11-24T00:00:00.000Z',
    expires_at: '2026-11-25T00:00:00.000Z',
    last_used: '2026-11-24T00:00:00.000Z',
    ip_address: '127.0.0.1',
    github_id: null,
    github_login: null,
    github_email: null,
    github_avatar_url: null,
    auth_method: 'password',
    github_orgs: [],
    ...over,
  };
}

describe('mrtd validation', () => {
  it('normalizes and validates', () => {
    expect(normalizeMrtd(`  ${'AB'.repeat(48)} `)).toBe('ab'.repeat(48));
    expect(isValidMrtd('ab'.repeat(48))).toBe(true);
    expect(isValidMrtd('AB'.repeat(48))).toBe(false);
    expect(isValidMrtd('a'.repeat(95))).toBe(false);
    expect(isValidMrtd('g'.repeat(96))).toBe(false);
    expect(normalizeMrtdType(' Proxy ')).toBe('proxy');
    expect(normalizeMrtdType('agent')).toBe('agent');
    expect(normalizeMrtdType('other')).toBeNull();
  });
});

for (const engine of testEngines()) {
  describe(`admin stores (${engine})`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await createTestDb(engine);
    });
    afterAll(async () => {
      await t?.destroy();
    });
    beforeEach(async () => {
      for (const table of ['settings', 'trusted_mrtds', 'admin_sessions', 'transactions']) await t.db(table).delete();
    });

    it('settings: upsert, merge, list, delete', async () => {
      const first = await upsertSetting(t.db, { key: 'stripe.secret_key', value: 'sk_test_1', isSecret: true });
      expect(first).toMatchObject({ key: 'stripe.secret_key', value: 'sk_test_1', is_secret: true });
      await upsertSetting(t.db, { key: 'cloudflare.domain', value: 'example.com', isSecret: false });
      await upsertSetting(t.db, { key: 'stripe.secret_key', value: 'sk_test_2', isSecret: true });

      const rows = await listSettingRows(t.db);
      expect(rows.map((r) => [r.key, r.value, r.is_secret])).toEqual([
        ['cloudflare.domain', 'example.com', false],
        ['stripe.secret_key', 'sk_test_2', true],
      ]);
      expect(rows[0]!.updated_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(await getSettingRow(t.db, 'stripe.secret_key')).toMatchObject({ value: 'sk_test_2', is_secret: true });

      expect(await deleteSetting(t.db, 'stripe.secret_key')).toBe(true);
      expect(await deleteSetting(t.db, 'stripe.secret_key')).toBe(false);
      expect(await getSettingRow(t.db, 'stripe.secret_key')).toBeUndefined();
    });

    it('settings: works inside a transaction', async () => {
      await t.db.transaction(async (trx) => {
        await upsertSetting(trx, { key: 'k', value: 'v', isSecret: false });
        expect(await getSettingRow(trx, 'k')).toMatchObject({ value: 'v' });
      });
      expect(await getSettingRow(t.db, 'k')).toMatchObject({ value: 'v' });
    });

    it('trusted MRTDs: note kept when new note empty, type always updated', async () => {
      const added = await upsertTrustedMrtd(t.db, { mrtd: MRTD_A, type: 'agent', note: 'first build' });
      expect(added).toMatchObject({ mrtd: MRTD_A, type: 'agent', note: 'first build' });

      const updated = await upsertTrustedMrtd(t.db, { mrtd: MRTD_A, type: 'proxy', note: '' });
      expect(updated).toEqual({ ...added, type: 'proxy' }); // note and added_at kept

      const renoted = await upsertTrustedMrtd(t.db, { mrtd: MRTD_A, type: 'proxy', note: 'second' });
      expect(renoted.note).toBe('second');
    });

    it('trusted MRTDs: ordered by added_at then mrtd; delete reports absence', async () => {
      const at = '2026-11-24T00:00:00.000Z';
      await t.db('trusted_mrtds').insert([
        { mrtd: MRTD_B, mrtd_type: 'agent', note: '', added_at: at },
        { mrtd: MRTD_A, mrtd_type: 'proxy', note: 'x', added_at: at },
        { mrtd: 'c'.repeat(96), mrtd_type: 'agent', note: '', added_at: '2026-11-23T23:59:59.000Z' },
      ]);
      const list = await listTrustedMrtds(t.db);
      expect(list.map((m) => m.mrtd[0])).toEqual(['c', 'a', 'b']);
      expect(list[1]).toEqual({ mrtd: MRTD_A, type: 'proxy', note: 'x', added_at: at });

      expect(await deleteTrustedMrtd(t.db, MRTD_A)).toBe(true);
      expect(await deleteTrustedMrtd(t.db, MRTD_A)).toBe(false);
      expect((await listTrustedMrtds(t.db)).map((m) => m.mrtd[0])).toEqual(['c', 'b']);
    });

    it('sessions: find by prefix newest first, touch, delete', async () => {
      await insertSession(t.db, session({ session_id: 's1', created_at: '2026-11-24T00:00:00.000Z' }));
      await insertSession(
        t.db,
        session({
          session_id: 's2',
          created_at: '2026-11-24T01:00:00.000Z',
          auth_method: 'github_oauth',
          github_id: 123456789012,
          github_login: 'octo',
          github_orgs: ['acme', 'tdx'],
        }),
      );
      await insertSession(t.db, session({ session_id: 's3', token_prefix: 'other_prefix' }));

      const found = await findSessionsByPrefix(t.db, 'tok_prefix_1');
      expect(found.map((s) => s.session_id)).toEqual(['s2', 's1']);
      expect(found[0]).toEqual(
        session({
          session_id: 's2',
          created_at: '2026-11-24T01:00:00.000Z',
          auth_method: 'github_oauth',
          github_id: 123456789012,
          github_login: 'octo',
          github_orgs: ['acme', 'tdx'],
        }),
      );
      expect(found[1]!.github_orgs).toEqual([]);
      expect((await t.db('admin_sessions').where({ session_id: 's1' }).first()).github_orgs).toBeNull();
      expect(await findSessionsByPrefix(t.db, 'nope')).toEqual([]);

      expect(await touchSession(t.db, 's1', '2026-11-24T05:06:07.089Z')).toBe(true);
      expect((await findSessionsByPrefix(t.db, 'tok_prefix_1'))[1]!.last_used).toBe('2026-11-24T05:06:07.089Z');
      expect(await touchSession(t.db, 'missing', '2026-11-24T05:06:07.089Z')).toBe(false);

      expect(await deleteSession(t.db, 's3')).toBe(true);
      expect(await deleteSession(t.db, 's3')).toBe(false);
    });

    it('sessions: expiry deletion counts strictly-expired rows', async () => {
      await insertSession(t.db, session({ session_id: 'e1', expires_at: '2026-11-24T10:00:00.000Z' }));
      await insertSession(t.db, session({ session_id: 'e2', expires_at: '2026-11-24T11:59:59.999Z' }));
      await insertSession(t.db, session({ session_id: 'e3', expires_at: '2026-11-24T12:00:00.000Z' }));
      await insertSession(t.db, session({ session_id: 'e4', expires_at: '2026-11-25T00:00:00.000Z' }));

      expect(await deleteExpiredSessions(t.db, '2026-11-24T12:00:00.000Z')).toBe(2);
      expect(await deleteExpiredSessions(t.db, '2026-11-24T12:00:00.000Z')).toBe(0);
      const left = await t.db('admin_sessions').select('session_id').orderBy('session_id');
      expect(left.map((r: { session_id: string }) => r.session_id)).toEqual(['e3', 'e4']);
    });

    it('transactions: ledger_key is unique in the database, nulls allowed', async () => {
      const at = '2026-11-24T00:00:00.000Z';
      const tx = { account_id: 'acc', amount: -1_000_000, balance_after: 0, tx_type: 'charge', created_at: at };
      const key = 'charge:dep-1:2026-11-24T00:role';
      await t.db('transactions').insert({ transaction_id: 't1', ledger_key: key, ...tx });
      await expect(t.db('transactions').insert({ transaction_id: 't2', ledger_key: key, ...tx })).rejects.toThrow(
        /unique/i,
      );
      await t.db('transactions').insert({ transaction_id: 't3', ledger_key: null, ...tx });
      await t.db('transactions').insert({ transaction_id: 't4', ledger_key: null, ...tx });
      const n = Number((await t.db('transactions').count({ n: '*' }).first())!.n);
      expect(n).toBe(3);
    });
  });
}
