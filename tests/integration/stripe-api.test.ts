/**
 * Stripe against stripe-mock: PaymentIntents in exact cents, webhooks that deposit exactly once per PaymentIntent,
 * refused when the signature is bad or the webhook secret is empty (v1 accepted forgeries then), admin status.
 */
import { createHmac, randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../core/auth/api-keys';
import { getBalance } from '../../core/stores/ledger';
import { decodeHistory, historyText } from '../helpers/histories';
import { seedAccount } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';
import { startStripeMock, type StripeMock } from '../helpers/stripe-mock';

const WEBHOOK_SECRET = 'whsec_test_secret';

describe('stripe', () => {
  let mock: StripeMock;
  let stack: Stack;
  let api: ReturnType<typeof http>;

  beforeAll(async () => {
    mock = await startStripeMock();
    stack = await startStack({
      env: { STRIPE_SECRET_KEY: 'sk_test_123', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_URL: mock.url },
    });
    api = http(stack.url);
  });
  afterAll(async () => {
    await stack?.close();
    await mock?.stop();
  });

  async function accountWithKey(): Promise<{ accountId: string; key: string }> {
    const k = await newApiKey(stack.deps.sealingKey);
    const { account_id } = await seedAccount(stack.db, { api_key_hash: k.hash, api_key_prefix: k.prefix });
    return { accountId: account_id, key: k.key };
  }

  function succeededEvent(accountId: string, cents: number, piId = `pi_${randomUUID().replace(/-/g, '')}`) {
    return {
      id: `evt_${randomUUID().replace(/-/g, '')}`,
      object: 'event',
      type: 'payment_intent.succeeded',
      data: {
        object: {
          id: piId,
          object: 'payment_intent',
          amount: cents,
          currency: 'usd',
          metadata: { account_id: accountId },
        },
      },
    };
  }

  const sign = (payload: string, secret = WEBHOOK_SECRET) =>
    Stripe.webhooks.generateTestHeaderString({ payload, secret });

  const postWebhook = (payload: string, signature?: string) =>
    api.post('/api/v1/webhooks/stripe', {
      raw: payload,
      headers: signature === undefined ? {} : { 'stripe-signature': signature },
    });

  it('creates a PaymentIntent in exact cents with the account in its metadata', async () => {
    const { accountId, key } = await accountWithKey();
    const res = await api.post(`/api/v1/accounts/${accountId}/payment-intent`, { token: key, json: { amount: 19.99 } });
    expect(res.status, res.text).toBe(200);
    // v1 defect absent: int(19.99 * 100) was 1998.
    expect(res.body).toMatchObject({ amount: 19.99, amount_cents: 1999 });
    expect(res.body.payment_intent_id).toMatch(/^pi_/);
    expect(res.body.client_secret).toMatch(/_secret_/);

    // Created by a workflow keyed on the client's Idempotency-Key; the client_secret stays out of its history.
    const again = await api.post(`/api/v1/accounts/${accountId}/payment-intent`, {
      token: key,
      json: { amount: 19.99 },
      headers: { 'idempotency-key': 'purchase-1' },
    });
    expect(again.status, again.text).toBe(200);
    const handle = stack.client.workflow.getHandle(`payment-intent:${accountId}:purchase-1`);
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    const history = await handle.fetchHistory();
    // On the server every payload is encrypted (core/temporal/codec.ts); decoded, the id shows but the secret not.
    expect(historyText(history)).not.toContain(again.body.payment_intent_id);
    const decoded = historyText(await decodeHistory(history, stack.client.options.loadedDataConverter.payloadCodecs));
    expect(decoded).toContain(again.body.payment_intent_id);
    expect(decoded).not.toContain(again.body.client_secret);
    const small = await api.post(`/api/v1/accounts/${accountId}/payment-intent`, {
      token: key,
      json: { amount: 0.29 },
    });
    expect(small.body.amount_cents).toBe(29);

    const subCent = await api.post(`/api/v1/accounts/${accountId}/payment-intent`, {
      token: key,
      json: { amount: 1.005 },
    });
    expect(subCent.status).toBe(400);
    const other = await api.post(`/api/v1/accounts/${randomUUID()}/payment-intent`, {
      token: key,
      json: { amount: 5 },
    });
    expect(other.status).toBe(403);
    expect(other.body.detail).toBe('Cannot create payment intent for other accounts');
    expect((await api.post(`/api/v1/accounts/${accountId}/payment-intent`, { json: { amount: 5 } })).status).toBe(401);
    const zero = await api.post(`/api/v1/accounts/${accountId}/payment-intent`, { token: key, json: { amount: 0 } });
    expect(zero.status).toBe(422);
  });

  it('a correctly signed payment_intent.succeeded deposits once; a replay or a second event deposits nothing', async () => {
    const { accountId } = await accountWithKey();
    const event = succeededEvent(accountId, 1999);
    const payload = JSON.stringify(event);
    const first = await postWebhook(payload, sign(payload));
    expect(first.status, first.text).toBe(200);
    expect(first.body).toEqual({ status: 'ok' });
    expect(await getBalance(stack.db, accountId)).toBe(19_990_000);

    // Stripe re-delivers the same event (fresh signature), and a second event names the same PaymentIntent.
    expect((await postWebhook(payload, sign(payload))).status).toBe(200);
    const other = JSON.stringify({ ...event, id: `evt_${randomUUID().replace(/-/g, '')}` });
    expect((await postWebhook(other, sign(other))).status).toBe(200);
    expect(await getBalance(stack.db, accountId)).toBe(19_990_000);
    const rows = await stack.db('transactions').where({ account_id: accountId });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      tx_type: 'deposit',
      description: 'Stripe payment',
      reference_id: event.data.object.id,
      ledger_key: `stripe:${event.data.object.id}`,
    });
  });

  it('refuses a missing, bad or expired signature (401) and deposits nothing', async () => {
    const { accountId } = await accountWithKey();
    const payload = JSON.stringify(succeededEvent(accountId, 5000));
    const wrongKey = await postWebhook(payload, sign(payload, 'whsec_attacker'));
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body.detail).toBe('Invalid signature');
    const tampered = await postWebhook(payload.replace('5000', '500000'), sign(payload));
    expect(tampered.status).toBe(401);
    const garbage = await postWebhook(payload, 't=1,v1=deadbeef');
    expect(garbage.status).toBe(401);
    const missing = await postWebhook(payload);
    expect(missing.status).toBe(401);
    expect(missing.body.detail).toBe('Missing stripe-signature header');
    // Too old: signed 10 minutes ago (tolerance 300 s).
    const t = Math.floor(Date.now() / 1000) - 600;
    const old = `t=${t},v1=${createHmac('sha256', WEBHOOK_SECRET).update(`${t}.${payload}`).digest('hex')}`;
    expect((await postWebhook(payload, old)).status).toBe(401);
    expect(await getBalance(stack.db, accountId)).toBe(0);
  });

  it('a correctly signed body that is not an event (null, an array, no type/data) is 400, never 500', async () => {
    const before = Number((await stack.db('transactions').count({ n: '*' }).first())?.n);
    for (const payload of [
      'null',
      '[]',
      '[{"type":"payment_intent.succeeded"}]',
      '{}',
      '{"id":"evt_1","type":"payment_intent.succeeded"}',
      '{"id":"evt_1","type":"payment_intent.succeeded","data":null}',
      '{"id":"evt_1","data":{"object":{}}}',
      '"just a string"',
    ]) {
      const res = await postWebhook(payload, sign(payload));
      expect(res.status, payload).toBe(400);
      expect(res.body).toEqual({ detail: 'Invalid payload' });
    }
    expect(Number((await stack.db('transactions').count({ n: '*' }).first())?.n)).toBe(before);
  });

  it('an empty webhook secret refuses every webhook, including one signed with the empty key', async () => {
    const { accountId } = await accountWithKey();
    const payload = JSON.stringify(succeededEvent(accountId, 100_000));
    const t = Math.floor(Date.now() / 1000);
    const forged = `t=${t},v1=${createHmac('sha256', '').update(`${t}.${payload}`).digest('hex')}`;
    const saved = stack.env.STRIPE_WEBHOOK_SECRET;
    stack.env.STRIPE_WEBHOOK_SECRET = '';
    stack.deps.settings.invalidate();
    try {
      const res = await postWebhook(payload, forged);
      expect(res.status).toBe(503);
      expect(res.body.detail).toBe('Stripe webhook secret not configured');
      expect((await postWebhook(payload, sign(payload))).status).toBe(503);
    } finally {
      stack.env.STRIPE_WEBHOOK_SECRET = saved!;
      stack.deps.settings.invalidate();
    }
    expect(await getBalance(stack.db, accountId)).toBe(0);
  });

  it('ignores other event types and unknown accounts after a valid signature', async () => {
    const ignored = JSON.stringify({ id: 'evt_x', object: 'event', type: 'charge.refunded', data: { object: {} } });
    expect((await postWebhook(ignored, sign(ignored))).body).toEqual({ status: 'ok' });
    const unknown = JSON.stringify(succeededEvent(randomUUID(), 100));
    expect((await postWebhook(unknown, sign(unknown))).status).toBe(200);
  });

  it('GET /api/v1/admin/stripe/status reports mode and validates against Stripe', async () => {
    const token = await adminLogin(stack.url);
    const res = await api.get('/api/v1/admin/stripe/status?validate=true', { token });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      stripe_available: true,
      stripe_enabled: true,
      mode: 'test',
      secret_key_configured: true,
      secret_key_source: 'env',
      webhook_secret_configured: true,
      webhook_secret_source: 'env',
      webhook_path: '/api/v1/webhooks/stripe',
      validation: { attempted: true, ok: true, error: null },
    });
    const plain = await api.get('/api/v1/admin/stripe/status', { token });
    expect(plain.body.validation).toEqual({ attempted: false, ok: null, error: null });
    expect((await api.get('/api/v1/admin/stripe/status')).status).toBe(401);
  });

  it('answers 503 when Stripe is not configured', async () => {
    const saved = stack.env.STRIPE_SECRET_KEY;
    stack.env.STRIPE_SECRET_KEY = '';
    stack.deps.settings.invalidate();
    try {
      const { accountId, key } = await accountWithKey();
      const pi = await api.post(`/api/v1/accounts/${accountId}/payment-intent`, { token: key, json: { amount: 5 } });
      expect(pi.status).toBe(503);
      expect(pi.body.detail).toBe('Stripe integration not configured. Set STRIPE_SECRET_KEY environment variable.');
      const payload = JSON.stringify(succeededEvent(accountId, 100));
      expect((await postWebhook(payload, sign(payload))).status).toBe(503);
    } finally {
      stack.env.STRIPE_SECRET_KEY = saved!;
      stack.deps.settings.invalidate();
    }
  });
});
