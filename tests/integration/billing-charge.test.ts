/** Store-level hourly charging on every engine: exact amounts, exact splits, exactly once, no overdraft. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CAPACITY_PRICES } from '../../core/pricing';
import {
  chargeCapacityPurchase,
  chargeDeployment,
  chargeDeployments,
  listChargeableDeploymentIds,
  listUnfundedDeployments,
  markUnfundedStopped,
} from '../../core/stores/billing';
import { appendLedgerEntry, getBalance, InsufficientFundsError } from '../../core/stores/ledger';
import { resolveContributorShares } from '../../core/stores/revenue-shares';
import { EXPECTED, EXPECTED_CHARGES, randomHour, seedBillingScenario } from '../helpers/billing-fixture';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';
import { seedAccount, seedAgent, seedDeployment } from '../helpers/seed';

describe.each(testEngines())('hourly charge store (%s)', (engine) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb(engine);
  });
  afterAll(async () => {
    await t?.destroy();
  });

  async function chargeAll(hour: string, chargeTime: string, platformAccountId: string) {
    const ids = await listChargeableDeploymentIds(t.db, '', 10_000);
    return Promise.all(
      ids.map((deploymentId) =>
        chargeDeployment(t.db, { deploymentId, hour, chargeTime, contributorPoolBps: 5000, platformAccountId }),
      ),
    );
  }

  it('charges the scenario to the hand-computed micro-dollar, exactly once', async () => {
    const { hour, chargeTime, chargeMs } = randomHour();
    const f = await seedBillingScenario(t.db, chargeMs);
    const outcomes = await chargeAll(hour, chargeTime, f.accounts.P);
    expect(outcomes.filter((o) => o.status === 'charged')).toHaveLength(5);
    expect(outcomes.filter((o) => o.status === 'insufficient_funds')).toHaveLength(1);

    for (const [name, id] of Object.entries(f.accounts)) {
      expect(await getBalance(t.db, id), name).toBe(EXPECTED[name as keyof typeof EXPECTED]);
    }
    // Each charge's parts sum exactly to the charge; keys carry deployment + hour + role.
    for (const [name, charge] of Object.entries(EXPECTED_CHARGES)) {
      const id = f.deployments[name as keyof typeof f.deployments];
      const rows = await t.db('transactions').where({ reference_id: id });
      const debit = rows.filter((r) => r.tx_type === 'charge');
      expect(
        debit.map((r) => Number(r.amount)),
        name,
      ).toEqual([-charge]);
      const credits = rows.filter((r) => r.tx_type !== 'charge').reduce((a, r) => a + Number(r.amount), 0);
      expect(credits, name).toBe(charge);
      for (const r of rows) expect(r.ledger_key).toMatch(new RegExp(`^charge:${id}:${hour}:`));
      const dep = await t.db('deployments').where({ deployment_id: id }).first();
      expect(Number(dep.total_charged)).toBe(charge);
      expect(new Date(dep.last_charge_time).toISOString()).toBe(chargeTime);
    }
    const d5 = await t.db('deployments').where({ deployment_id: f.deployments.d5 }).first();
    expect(d5.status).toBe('insufficient_funds');
    expect(await t.db('transactions').where({ reference_id: f.deployments.d5 })).toHaveLength(0);
    for (const d of ['d6', 'd7'] as const) {
      expect(await t.db('transactions').where({ reference_id: f.deployments[d] })).toHaveLength(0);
    }

    // Same hour again (a re-run, a retried activity): nothing new.
    const before = await t.db('transactions').count({ n: '*' }).first();
    const again = await chargeAll(hour, chargeTime, f.accounts.P);
    // The five charged deployments are still chargeable (d5 is insufficient_funds now): each one is skipped.
    expect(again.map((o) => o.status)).toEqual(['skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(await t.db('transactions').count({ n: '*' }).first()).toEqual(before);
    for (const [name, id] of Object.entries(f.accounts)) {
      expect(await getBalance(t.db, id), name).toBe(EXPECTED[name as keyof typeof EXPECTED]);
    }
    // Leave the scenario's deployments out of later tests.
    await t.db('deployments').whereIn('deployment_id', Object.values(f.deployments)).update({ status: 'completed' });
  });

  it('bills concurrent runs of two hours once: the later hour never re-bills the earlier one', async () => {
    const { account_id: payer } = await seedAccount(t.db);
    await appendLedgerEntry(t.db, { accountId: payer, amount: 10_000_000, txType: 'deposit' });
    const { chargeMs } = randomHour();
    const h1 = new Date(chargeMs).toISOString();
    const h2 = new Date(chargeMs + 3_600_000).toISOString();
    const { deployment_id } = await seedDeployment(t.db, {
      account_id: payer,
      started_at: new Date(chargeMs - 3_600_000).toISOString(),
    });
    const charge = (iso: string) =>
      chargeDeployment(t.db, {
        deploymentId: deployment_id,
        hour: iso.slice(0, 13),
        chargeTime: iso,
        contributorPoolBps: 5000,
        platformAccountId: '',
      });
    await Promise.all([charge(h2), charge(h1), charge(h2), charge(h1)]);
    // Whatever the order, two hours of 100_000 are billed exactly once in total.
    expect(await getBalance(t.db, payer)).toBe(10_000_000 - 200_000);
    await t.db('deployments').where({ deployment_id }).update({ status: 'completed' });
  });

  it('never overdraws a deployer charged by many deployments at once', async () => {
    const { account_id: payer } = await seedAccount(t.db);
    await appendLedgerEntry(t.db, { accountId: payer, amount: 250_000, txType: 'deposit' });
    const { hour, chargeTime, chargeMs } = randomHour();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (
          await seedDeployment(t.db, {
            account_id: payer,
            started_at: new Date(chargeMs - 3_600_000).toISOString(),
          })
        ).deployment_id,
      );
    }
    const out = await Promise.all(
      ids.map((deploymentId) =>
        chargeDeployment(t.db, { deploymentId, hour, chargeTime, contributorPoolBps: 5000, platformAccountId: '' }),
      ),
    );
    expect(out.filter((o) => o.status === 'charged')).toHaveLength(2);
    expect(out.filter((o) => o.status === 'insufficient_funds')).toHaveLength(3);
    expect(await getBalance(t.db, payer)).toBe(50_000);
    const unfunded = (await listUnfundedDeployments(t.db, 100)).map((u) => u.deploymentId);
    expect(unfunded.filter((id) => ids.includes(id))).toHaveLength(3);
    // The terminator's bookkeeping: insufficient_funds → stopped once, and the agent is freed.
    const victim = out.findIndex((o) => o.status === 'insufficient_funds');
    const dep = await t.db('deployments').where({ deployment_id: ids[victim] }).first();
    // seedDeployment gave each deployment its own agent holding it (deployed).
    expect(await markUnfundedStopped(t.db, ids[victim]!)).toEqual({ stopped: true });
    expect(await markUnfundedStopped(t.db, ids[victim]!)).toEqual({ stopped: false });
    expect((await t.db('deployments').where({ deployment_id: ids[victim] }).first()).status).toBe('stopped');
    const agent = await t.db('agents').where({ agent_id: dep.agent_id }).first();
    expect(agent.status).toBe('undeployed');
    expect(agent.current_deployment_id).toBeNull();
    await t.db('deployments').whereIn('deployment_id', ids).update({ status: 'completed' });
  });

  it('charges a chunk in one transaction: balances run on, an unfunded deployer only skips their own charge', async () => {
    const { account_id: payer } = await seedAccount(t.db);
    const { account_id: rich } = await seedAccount(t.db);
    await appendLedgerEntry(t.db, { accountId: payer, amount: 250_000, txType: 'deposit' });
    await appendLedgerEntry(t.db, { accountId: rich, amount: 10_000_000, txType: 'deposit' });
    const { hour, chargeTime, chargeMs } = randomHour();
    const started_at = new Date(chargeMs - 3_600_000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      ids.push((await seedDeployment(t.db, { account_id: i % 2 ? rich : payer, started_at })).deployment_id);
    }
    const input = { deploymentIds: ids, hour, chargeTime, contributorPoolBps: 5000, platformAccountId: '' };
    const out = await chargeDeployments(t.db, input);
    const statuses = [...out.values()].map((o) => o.status);
    expect(statuses.filter((s) => s === 'charged')).toHaveLength(6);
    expect(statuses.filter((s) => s === 'insufficient_funds')).toHaveLength(2);
    expect(await getBalance(t.db, payer)).toBe(50_000);
    expect(await getBalance(t.db, rich)).toBe(10_000_000 - 400_000);
    const again = await chargeDeployments(t.db, input);
    expect([...again.values()].map((o) => o.status)).toEqual(ids.map(() => 'skipped'));
    expect(await getBalance(t.db, rich)).toBe(10_000_000 - 400_000);
    const totals = await t
      .db('deployments')
      .whereIn('deployment_id', ids)
      .select('total_charged', 'last_charge_time', 'status');
    expect(totals.filter((d) => Number(d.total_charged) === 100_000)).toHaveLength(6);
    await t.db('deployments').whereIn('deployment_id', ids).update({ status: 'completed' });
  });

  it('skips time under a minute without losing it', async () => {
    const { account_id: payer } = await seedAccount(t.db);
    await appendLedgerEntry(t.db, { accountId: payer, amount: 1_000_000, txType: 'deposit' });
    const { chargeMs } = randomHour();
    const { deployment_id } = await seedDeployment(t.db, {
      account_id: payer,
      started_at: new Date(chargeMs - 30_000).toISOString(),
    });
    const input = { deploymentId: deployment_id, contributorPoolBps: 5000, platformAccountId: '' };
    const early = new Date(chargeMs).toISOString();
    expect(await chargeDeployment(t.db, { ...input, hour: early.slice(0, 13), chargeTime: early })).toEqual({
      status: 'skipped',
      reason: 'too_soon',
    });
    const later = new Date(chargeMs + 3_600_000).toISOString();
    const r = await chargeDeployment(t.db, { ...input, hour: later.slice(0, 13), chargeTime: later });
    expect(r).toMatchObject({ status: 'charged', charge: Math.round(100_000 * (3_630_000 / 3_600_000)) });
    await t.db('deployments').where({ deployment_id }).update({ status: 'completed' });
  });

  it('falls back to the app maintainers linked to contributor/agent accounts (billing.md §4.2)', async () => {
    const tag = randomUUID().slice(0, 8);
    const app = `maint-${tag}`;
    await t.db('apps').insert({
      app_id: randomUUID(),
      name: app,
      maintainers: JSON.stringify([`a-${tag}`, ' ', `b-${tag}`, `c-${tag}`, `nobody-${tag}`]),
      created_at: new Date().toISOString(),
    });
    const a = await seedAccount(t.db, { account_type: 'contributor', github_login: `a-${tag}` });
    const b = await seedAccount(t.db, { account_type: 'agent', github_login: `b-${tag}` });
    await seedAccount(t.db, { account_type: 'deployer', github_login: `c-${tag}` });
    expect(await resolveContributorShares(t.db, app)).toEqual([
      { accountId: a.account_id, shareBps: 5000, label: 'maintainer-auto' },
      { accountId: b.account_id, shareBps: 5000, label: 'maintainer-auto' },
    ]);
  });

  it('charges capacity purchases once per request id; simulated and disabled modes write 0', async () => {
    const { account_id } = await seedAccount(t.db);
    await appendLedgerEntry(t.db, { accountId: account_id, amount: 300_000_000, txType: 'deposit' });
    const base = {
      accountId: account_id,
      datacenter: 'gcp:us-central1-a',
      nodeSize: 'standard',
      minWarmCount: 2,
      months: 1,
      billingEnabled: true,
      simulate: false,
      prices: { ...DEFAULT_CAPACITY_PRICES },
    };
    const real = await chargeCapacityPurchase(t.db, { ...base, requestId: 'capacity-0000000000000001' });
    const again = await chargeCapacityPurchase(t.db, { ...base, requestId: 'capacity-0000000000000001' });
    expect(real).toMatchObject({ simulatedPayment: false, chargedMicros: 200_000_000, balanceAfter: 100_000_000 });
    expect(again.transactionId).toBe(real.transactionId);
    const sim = await chargeCapacityPurchase(t.db, { ...base, simulate: true, requestId: 'capacity-0000000000000002' });
    expect(sim).toMatchObject({ simulatedPayment: true, chargedMicros: 200_000_000, balanceAfter: 100_000_000 });
    const off = await chargeCapacityPurchase(t.db, {
      ...base,
      billingEnabled: false,
      requestId: 'capacity-0000000000000003',
    });
    expect(off.simulatedPayment).toBe(true);
    const descs = (await t.db('transactions').where({ account_id }).select('description')).map((r) => r.description);
    expect(descs).toContain('[SIMULATED $200.00] Warm capacity gcp:us-central1-a/standard x2 for 1 month(s)');
    expect(descs).toContain('[BILLING_DISABLED $200.00] Warm capacity gcp:us-central1-a/standard x2 for 1 month(s)');
    await expect(
      chargeCapacityPurchase(t.db, { ...base, requestId: 'capacity-0000000000000004' }),
    ).rejects.toBeInstanceOf(InsufficientFundsError);
    expect(await getBalance(t.db, account_id)).toBe(100_000_000);
  });

  it('an agent without an operator account leaves its 70 % with the platform', async () => {
    const { hour, chargeTime, chargeMs } = randomHour();
    const payer = (await seedAccount(t.db)).account_id;
    const platform = (await seedAccount(t.db)).account_id;
    await appendLedgerEntry(t.db, { accountId: payer, amount: 1_000_000, txType: 'deposit' });
    const agent = (await seedAgent(t.db)).agent_id;
    const { deployment_id } = await seedDeployment(t.db, {
      account_id: payer,
      agent_id: agent,
      started_at: new Date(chargeMs - 3_600_000).toISOString(),
    });
    const r = await chargeDeployment(t.db, {
      deploymentId: deployment_id,
      hour,
      chargeTime,
      contributorPoolBps: 5000,
      platformAccountId: platform,
    });
    expect(r).toMatchObject({ status: 'charged', charge: 100_000, operator: 0, platform: 100_000 });
    expect(await getBalance(t.db, platform)).toBe(100_000);
    await t.db('deployments').where({ deployment_id }).update({ status: 'completed' });
  });
});
