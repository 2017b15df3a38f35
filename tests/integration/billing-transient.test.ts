/**
 * A busy database is not a deployment that cannot be charged. Before this fix, a SQLITE_BUSY (another connection
 * holding the write lock past busy_timeout, as happens on a loaded machine) failed every chunk and then every
 * deployment, and `chargeBatch` *returned* them as `errors`: the run completed with those deployments unbilled for
 * the hour. Now the attempt fails (Temporal retries the activity) and the retry charges them all, once.
 */
import Database from 'better-sqlite3';
import knex from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingActivities } from '../../activities/billing';
import { hourStartIso } from '../../core/billing';
import { isTransientDbError } from '../../core/db/transient';
import { silentLogger } from '../../core/logger';
import type { SettingsReader } from '../../core/settings/types';
import { appendLedgerEntry } from '../../core/stores/ledger';
import { createTestDb, type TestDb } from '../helpers/databases';
import { seedAccount, seedAgent } from '../helpers/seed';

const settings: SettingsReader = {
  async get(key) {
    const values: Record<string, string> = {
      'billing.enabled': 'true',
      'billing.contributor_pool_bps': '0',
      'billing.platform_account_id': '',
    };
    if (!(key in values)) throw new Error(`unknown setting ${key}`);
    return values[key]!;
  },
};

const HOUR = '2024-03-05T10';
const N = 12;

describe('chargeBatch on a locked database', () => {
  let t: TestDb;
  let ids: string[];
  beforeAll(async () => {
    t = await createTestDb('sqlite');
    const payer = (await seedAccount(t.db)).account_id;
    await appendLedgerEntry(t.db, { accountId: payer, amount: 100_000_000, txType: 'deposit' });
    const { agent_id } = await seedAgent(t.db);
    const started = new Date(Date.parse(hourStartIso(HOUR)) - 3_600_000).toISOString();
    ids = Array.from({ length: N }, (_, i) => `locked-${i}`);
    await t.db('deployments').insert(
      ids.map((deployment_id) => ({
        deployment_id,
        compose: 'c2VydmljZXM6IHt9',
        config: '{}',
        agent_id,
        account_id: payer,
        status: 'running',
        created_at: started,
        started_at: started,
      })),
    );
  });
  afterAll(async () => {
    await t.destroy();
  });

  it('fails the attempt with a transient error instead of reporting the deployments as errors; the retry charges all', async () => {
    const activities = createBillingActivities({ db: t.db, settings, logger: silentLogger() });
    const input = {
      hour: HOUR,
      chargeTime: hourStartIso(HOUR),
      deploymentIds: ids,
      contributorPoolBps: 0,
      platformAccountId: '',
      runStartedAt: new Date(Date.now() - 1000).toISOString(),
    };
    // Another connection holds the write lock for longer than the activity's busy_timeout.
    const holder = new Database(t.filename!);
    holder.exec('BEGIN IMMEDIATE');
    let failure: unknown;
    try {
      await activities.chargeBatch(input);
    } catch (err) {
      failure = err;
    } finally {
      holder.exec('COMMIT');
      holder.close();
    }
    expect(failure).toBeDefined();
    expect(isTransientDbError(failure)).toBe(true);
    expect(await t.db('transactions').where('ledger_key', 'like', `charge:%:${HOUR}:%`).count({ n: '*' })).toEqual([
      { n: 0 },
    ]);

    const retried = await activities.chargeBatch(input);
    expect(retried).toMatchObject({ charged: N, errors: 0, skipped: 0, errorIds: [] });
    const debits = await t.db('transactions').whereIn('reference_id', ids).andWhere('tx_type', 'charge');
    expect(debits).toHaveLength(N);
  }, 30_000);
});

describe('isTransientDbError', () => {
  it('decides by driver code or class, not by message', () => {
    const coded = (code: string) => Object.assign(new Error('whatever the text'), { code });
    for (const code of [
      'SQLITE_BUSY',
      'SQLITE_BUSY_SNAPSHOT',
      'SQLITE_LOCKED',
      '40001',
      '40P01',
      '57P01',
      'ECONNRESET',
    ]) {
      expect(isTransientDbError(coded(code)), code).toBe(true);
    }
    for (const code of ['SQLITE_CONSTRAINT_UNIQUE', '23505', '22P02', 'SQLITE_ERROR']) {
      expect(isTransientDbError(coded(code)), code).toBe(false);
    }
    expect(isTransientDbError(new Error('SQLITE_BUSY: database is locked'))).toBe(false);
    expect(isTransientDbError(new knex.KnexTimeoutError('Knex: Timeout acquiring a connection'))).toBe(true);
    expect(isTransientDbError(undefined)).toBe(false);
  });
});
