/**
 * Stripe (api.md §9, §12; billing.md §7): PaymentIntent creation, the signed webhook that deposits, admin status.
 *
 * Exactly-once deposits: the ledger key is `stripe:<payment_intent id>`, so a re-delivered event, or a second event
 * for the same PaymentIntent, finds the key taken and deposits nothing. Amounts are integer cents from Stripe and
 * exact decimal USD from callers ($19.99 → 1999 cents; v1 truncated a float to 1998).
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import type Stripe from 'stripe';
import { z } from 'zod';
import { badRequest, forbidden, HttpError, serviceUnavailable } from '../http/errors';
import { microsToCents, usdCentsToMicros, usdToMicros } from '../../core/money';
import { AccountNotFoundError, appendLedgerEntry } from '../../core/stores/ledger';
import {
  readStripeSettings,
  STRIPE_WEBHOOK_PATH,
  stripeClient,
  stripeMode,
  verifyWebhook,
} from '../../clients/stripe-client';
import { unseal } from '../../core/auth/seal';
import type { SettingKey } from '../../core/settings/registry';
import type { CreatePaymentIntentResult } from '../../workflows/contracts/payments';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

/** The webhook's credential is its signature: a missing or wrong one is 401, as for any credential. */
const badSignature = (detail: string) => new HttpError(401, detail, { 'WWW-Authenticate': 'Stripe-Signature' });

export function stripeRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'post',
      path: '/api/v1/accounts/:account_id/payment-intent',
      summary: 'Create a Stripe PaymentIntent that deposits into this account when it succeeds',
      tag: 'billing',
      auth: 'apiKey',
      params: z.object({ account_id: z.string() }),
      body: z.object({ amount: z.number().positive().describe('USD, whole cents') }),
      responses: {
        200: {
          description: 'PaymentIntent created',
          schema: z.object({
            client_secret: z.string(),
            amount: z.number(),
            amount_cents: z.number().int().describe('What Stripe was asked to collect'),
            payment_intent_id: z.string(),
          }),
        },
        400: { description: 'Amount is not a whole number of cents' },
        403: { description: 'Not your account' },
        500: { description: 'Stripe refused' },
        503: { description: 'Stripe not configured' },
      },
    },
    async ({ params, body }, ctx) => {
      if (ctx.state.account?.account_id !== params.account_id) {
        throw forbidden('Cannot create payment intent for other accounts');
      }
      const s = await readStripeSettings(deps.settings);
      if (!s.secretKey) {
        throw serviceUnavailable('Stripe integration not configured. Set STRIPE_SECRET_KEY environment variable.');
      }
      let cents: number;
      try {
        cents = microsToCents(usdToMicros(body.amount));
      } catch {
        throw badRequest('amount must be a whole number of cents');
      }
      // A client retrying the same purchase sends the same Idempotency-Key and gets the same PaymentIntent.
      const requestKey = ctx.get('idempotency-key').trim() || randomUUID();
      let intent: CreatePaymentIntentResult;
      try {
        intent = await deps.workflows.createPaymentIntent({
          accountId: params.account_id,
          amountCents: cents,
          requestKey,
        });
      } catch (err) {
        const reason = err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : String(err);
        deps.logger.error(`Stripe PaymentIntent creation failed: ${reason}`);
        throw new HttpError(500, `Failed to create payment intent: ${reason}`);
      }
      return {
        client_secret: unseal(deps.sealingKey, { sealed: intent.clientSecretSealed }),
        amount: body.amount,
        amount_cents: intent.amountCents,
        payment_intent_id: intent.paymentIntentId,
      };
    },
  );

  routes.add(
    {
      method: 'post',
      path: STRIPE_WEBHOOK_PATH,
      summary: 'Stripe webhook (stripe-signature over the raw body); payment_intent.succeeded deposits once',
      tag: 'billing',
      // The stripe-signature is checked in the handler (it needs the raw body and the parsed event, and an
      // unconfigured Stripe answers 503 first); the scheme documents the credential.
      auth: 'stripe',
      responses: {
        200: { description: 'Accepted', schema: z.object({ status: z.literal('ok') }) },
        400: { description: 'Correctly signed but not an event' },
        401: { description: 'Missing, invalid or expired stripe-signature' },
        503: { description: 'Stripe or its webhook secret not configured' },
      },
    },
    async (_input, ctx) => {
      const s = await readStripeSettings(deps.settings);
      if (!s.secretKey) throw serviceUnavailable('Stripe integration not configured');
      const signature = ctx.get('stripe-signature');
      if (!signature) throw badSignature('Missing stripe-signature header');
      const check = verifyWebhook(ctx.request.rawBody ?? Buffer.alloc(0), signature, s.webhookSecret);
      if (!check.ok) {
        if (check.reason === 'no_secret') {
          // v1 verified against an empty key, so anyone could mint deposits; refuse instead.
          deps.logger.error('Stripe webhook refused: stripe.webhook_secret is not set');
          throw serviceUnavailable('Stripe webhook secret not configured');
        }
        if (check.reason === 'bad_signature') throw badSignature('Invalid signature');
        throw badRequest('Invalid payload');
      }
      if (check.event.type === 'payment_intent.succeeded') await deposit(check.event);
      return { status: 'ok' as const };
    },
  );

  async function deposit(event: Stripe.Event): Promise<void> {
    const intent = event.data.object as Stripe.PaymentIntent;
    const accountId = intent.metadata?.account_id;
    if (!accountId) {
      deps.logger.warn(`Stripe ${event.id}: payment_intent.succeeded ${intent.id} without metadata.account_id`);
      return;
    }
    if (!Number.isSafeInteger(intent.amount) || intent.amount <= 0) {
      deps.logger.warn(`Stripe ${event.id}: PaymentIntent ${intent.id} has no positive amount`);
      return;
    }
    try {
      await appendLedgerEntry(deps.db, {
        accountId,
        amount: usdCentsToMicros(intent.amount),
        txType: 'deposit',
        description: 'Stripe payment',
        referenceId: intent.id,
        ledgerKey: `stripe:${intent.id}`,
      });
    } catch (err) {
      // Stripe would retry a non-2xx forever; an unknown account is logged for a human instead (v1 behaviour).
      if (!(err instanceof AccountNotFoundError)) throw err;
      deps.logger.error(`Stripe ${event.id}: deposit for unknown account ${accountId} (PaymentIntent ${intent.id})`);
    }
  }

  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/stripe/status',
      summary: 'Stripe configuration; validate=true also retrieves the Stripe balance',
      tag: 'admin',
      auth: 'admin',
      query: z.object({
        validate: z
          .enum(['true', 'false', '1', '0'])
          .optional()
          .transform((v) => v === 'true' || v === '1'),
      }),
      responses: {
        200: {
          description: 'Status',
          schema: z.object({
            stripe_available: z.boolean(),
            stripe_enabled: z.boolean(),
            mode: z.string(),
            secret_key_configured: z.boolean(),
            secret_key_source: z.string(),
            webhook_secret_configured: z.boolean(),
            webhook_secret_source: z.string(),
            webhook_path: z.string(),
            validation: z.object({
              attempted: z.boolean(),
              ok: z.boolean().nullable(),
              error: z.string().nullable(),
            }),
          }),
        },
      },
    },
    async ({ query }) => {
      const s = await readStripeSettings(deps.settings);
      const source = async (key: SettingKey) =>
        'resolve' in deps.settings ? (await deps.settings.resolve(key)).source : 'default';
      const validation: { attempted: boolean; ok: boolean | null; error: string | null } = {
        attempted: query.validate,
        ok: null,
        error: null,
      };
      if (query.validate) {
        if (!s.secretKey) {
          validation.ok = false;
          validation.error = 'Stripe not enabled (missing STRIPE_SECRET_KEY or SDK unavailable)';
        } else {
          try {
            await stripeClient(s).balance.retrieve();
            validation.ok = true;
          } catch (err) {
            validation.ok = false;
            validation.error = `${(err as Error).name}: ${(err as Error).message.slice(0, 200)}`;
          }
        }
      }
      return {
        stripe_available: true,
        stripe_enabled: s.secretKey !== '',
        mode: stripeMode(s.secretKey),
        secret_key_configured: s.secretKey !== '',
        secret_key_source: await source('stripe.secret_key'),
        webhook_secret_configured: s.webhookSecret !== '',
        webhook_secret_source: await source('stripe.webhook_secret'),
        webhook_path: STRIPE_WEBHOOK_PATH,
        validation,
      };
    },
  );
}
