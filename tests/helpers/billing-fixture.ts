/**
 * The billing acceptance scenario: deployments of different sizes on two agents (one with an operator account), an
 * app with two contributors (6000 + 4000 bps), a platform account, one deployer that cannot pay. Expected balances
 * are computed by hand from spec/billing.md (pool 5000 bps, operator 70 %), in micro-dollars:
 *
 * | dep | size                          | agent op | app   | hours | charge     | operator   | C1 (60 %) | C2 (40 %) | platform  |
 * |-----|-------------------------------|----------|-------|-------|------------|------------|-----------|-----------|-----------|
 * | d1  | 2 vCPU 4 GB adhoc             | yes      | shop  | 1     | 100_000    | 70_000     | 9_000     | 6_000     | 15_000    |
 * | d2  | 4 vCPU 8 GB three_nines       | no       | shop  | 1     | 300_000    | —          | 90_000    | 60_000    | 150_000   |
 * | d3  | 8 vCPU 32 GB 1 GPU 5×9 h100   | yes      | other | 1     | 29_400_000 | 20_580_000 | —         | —         | 8_820_000 |
 * | d4  | 1 vCPU 1 GB four_nines (90k/h)| yes      | shop  | 0.5   | 45_000     | 31_500     | 4_050     | 2_700     | 6_750     |
 * | d8  | 1 vCPU 0.1 GB adhoc (40.5k/h) | yes      | shop  | 1     | 40_500     | 28_350     | 3_645     | 2_430     | 6_075     |
 *
 * d5 (deployer D2 holds 50_000 < 100_000) → insufficient_funds, nothing written; d6 (no account) and d7 (completed)
 * are not billed. D1 starts with 100 USD.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { appendLedgerEntry } from '../../core/stores/ledger';
import { seedAccount, seedAgent, seedDeployment } from './seed';

export const EXPECTED = {
  D1: 100_000_000 - 29_885_500,
  D2: 50_000,
  O: 20_709_850,
  C1: 106_695,
  C2: 71_130,
  P: 8_997_825,
};
export const EXPECTED_CHARGES: Record<string, number> = {
  d1: 100_000,
  d2: 300_000,
  d3: 29_400_000,
  d4: 45_000,
  d8: 40_500,
};

export interface Fixture {
  accounts: Record<keyof typeof EXPECTED, string>;
  deployments: Record<'d1' | 'd2' | 'd3' | 'd4' | 'd5' | 'd6' | 'd7' | 'd8', string>;
  appName: string;
}

/** A random whole UTC hour in the future, unique enough to keep workflow ids of parallel test files apart. */
export function randomHour(): { hour: string; chargeTime: string; chargeMs: number } {
  const chargeMs = Date.UTC(2031, 0, 1) + Math.floor(Math.random() * 500_000) * 3_600_000;
  const chargeTime = new Date(chargeMs).toISOString();
  return { hour: chargeTime.slice(0, 13), chargeTime, chargeMs };
}

/**
 * Seeds the scenario. Contributor rules are inserted directly unless `withShares` is false (the API test creates
 * them through POST /revenue-shares).
 */
export async function seedBillingScenario(
  db: Knex,
  chargeMs: number,
  opts: { withShares?: boolean } = {},
): Promise<Fixture> {
  const tag = randomUUID().slice(0, 8);
  const acct = async (type: string) => (await seedAccount(db, { account_type: type })).account_id;
  const accounts = {
    D1: await acct('deployer'),
    D2: await acct('deployer'),
    O: await acct('agent'),
    C1: await acct('contributor'),
    C2: await acct('contributor'),
    P: await acct('deployer'),
  };
  await appendLedgerEntry(db, { accountId: accounts.D1, amount: 100_000_000, txType: 'deposit' });
  await appendLedgerEntry(db, { accountId: accounts.D2, amount: 50_000, txType: 'deposit' });

  const appName = `shop-${tag}`;
  await db('apps').insert({ app_id: randomUUID(), name: appName, created_at: new Date().toISOString() });
  await db('apps').insert({ app_id: randomUUID(), name: `other-${tag}`, created_at: new Date().toISOString() });
  if (opts.withShares ?? true) {
    for (const [i, [accountId, bps]] of [
      [accounts.C1, 6000],
      [accounts.C2, 4000],
    ].entries()) {
      await db('app_revenue_shares').insert({
        share_id: randomUUID(),
        app_name: appName,
        account_id: accountId,
        share_bps: bps,
        label: `c${i + 1}`,
        created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      });
    }
  }

  const withOperator = (await seedAgent(db, { account_id: accounts.O })).agent_id;
  const noOperator = (await seedAgent(db)).agent_id;
  const hourAgo = new Date(chargeMs - 3_600_000).toISOString();
  const halfHourAgo = new Date(chargeMs - 1_800_000).toISOString();
  const dep = async (over: Record<string, unknown>) =>
    (await seedDeployment(db, { started_at: hourAgo, account_id: accounts.D1, agent_id: withOperator, ...over }))
      .deployment_id;
  const deployments = {
    d1: await dep({ app_name: appName }),
    d2: await dep({ app_name: appName, agent_id: noOperator, cpu_vcpus: 4, memory_gb: 8, sla_class: 'three_nines' }),
    d3: await dep({
      app_name: `other-${tag}`,
      cpu_vcpus: 8,
      memory_gb: 32,
      gpu_count: 1,
      sla_class: 'five_nines',
      machine_size: 'h100',
    }),
    // app name from the config (no app_name column), last charged half an hour ago
    d4: await dep({
      config: JSON.stringify({ app_name: appName }),
      cpu_vcpus: 1,
      memory_gb: 1,
      sla_class: 'four_nines',
      last_charge_time: halfHourAgo,
    }),
    d5: await dep({ app_name: appName, account_id: accounts.D2 }),
    d6: await dep({ app_name: appName, account_id: null }),
    d7: await dep({ app_name: appName, status: 'completed' }),
    d8: await dep({ app_name: appName, cpu_vcpus: 1, memory_gb: 0.1 }),
  };
  return { accounts, deployments, appName };
}
