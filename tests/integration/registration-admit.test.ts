/**
 * admitRegistration (activities/registration.ts) against a real database: the one step that decides, before any
 * tunnel, whether a registration may go on. The attack: a VM launched for a capacity order registers without the
 * order's bootstrap token (so without the order activity that would consume it) — refused here, before anything of
 * the agent is written. The same VM with no order in flight is admitted, and a replayed nonce is still refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistrationActivities } from '../../activities/registration';
import type { AttestationVerifier } from '../../activities/attestation';
import type { CloudflareActivities } from '../../activities/cloudflare';
import { randomKeyRing } from '../../core/auth/keyring';
import { SettingsService } from '../../core/settings/service';
import { queueOrders } from '../../core/stores/capacity';
import { createTestDb, type TestDb } from '../helpers/databases';

describe('admitRegistration', () => {
  let t: TestDb;
  let admit: ReturnType<typeof createRegistrationActivities>['admitRegistration'];
  const input = (vmName: string, over: Record<string, unknown> = {}) => ({
    vmName,
    reportData: null,
    consumer: `register:${vmName}:attempt`,
    mrtd: 'ab'.repeat(48),
    nodeSize: 'tiny',
    datacenter: 'gcp:us-central1-a',
    candidateAgentId: `agent-of-${vmName}`,
    bootstrapTokenHash: null,
    ...over,
  });

  beforeAll(async () => {
    t = await createTestDb('sqlite');
    // Unbound tokens are the operator's explicit choice here, so the nonce is not what refuses.
    const settings = new SettingsService(t.db, { env: { NONCE_ENFORCEMENT_MODE: 'disabled' } });
    const acts = createRegistrationActivities({
      db: t.db,
      settings,
      sealingKey: randomKeyRing(),
      verifier: {} as AttestationVerifier,
      cloudflare: {
        cloudflareConfigured: async () => ({ configured: true, domain: 'x.test' }),
      } as never as CloudflareActivities,
    });
    admit = acts.admitRegistration;
  });
  afterAll(async () => {
    await t?.destroy();
  });

  it('admits a VM no order waits for: the plan, no order involved, the tunnel to make', async () => {
    expect(await admit(input('vm-free'))).toEqual({
      ok: true,
      agentId: 'agent-of-vm-free',
      fastPath: false,
      existed: false,
      hostname: null,
      orderBound: false,
      tunnel: true,
    });
  });

  it('refuses a VM launched for a capacity order that brings no bootstrap token', async () => {
    const [order] = (
      await queueOrders(t.db, {
        datacenter: 'gcp:us-central1-a',
        nodeSize: 'tiny',
        shortfall: 1,
        reason: 'test',
        accountId: null,
        graceSeconds: 0,
        fulfiller: 'launcher',
      })
    ).orders;
    await t
      .db('capacity_launch_orders')
      .where({ order_id: order!.order_id })
      .update({ status: 'provisioning', vm_name: 'vm-ordered', bootstrap_token_hash: 'f'.repeat(64) });
    expect(await admit(input('vm-ordered'))).toEqual({
      ok: false,
      status: 403,
      detail: `Bootstrap token required: vm-ordered was launched for capacity order ${order!.order_id}`,
    });
    // With a token, the order activity decides (orderBound), not this step.
    expect(await admit(input('vm-ordered', { bootstrapTokenHash: 'f'.repeat(64) }))).toMatchObject({
      ok: true,
      orderBound: true,
    });
    expect(await t.db('agents').where({ vm_name: 'vm-ordered' }).first()).toBeUndefined();
  });
});
