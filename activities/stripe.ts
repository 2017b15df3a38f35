/**
 * Stripe calls made by workflows. Idempotent: PaymentIntent creation carries the Stripe
 * idempotency key `payment-intent:<account>:<request key>`, so a retry gets the same intent.
 */
import { ApplicationFailure } from '@temporalio/common';
import Stripe from 'stripe';
import { seal } from '../core/auth/seal';
import type { SettingsReader } from '../core/settings/types';
import { readStripeSettings, stripeClient } from '../clients/stripe-client';
import type { CreatePaymentIntentInput, CreatePaymentIntentResult } from '../workflows/contracts/payments';
import type { KeyRing } from '../core/auth/keyring';

export function createStripeActivities({ settings, sealingKey }: { settings: SettingsReader; sealingKey: KeyRing }) {
  return {
    async stripeCreatePaymentIntent(input: CreatePaymentIntentInput): Promise<CreatePaymentIntentResult> {
      const s = await readStripeSettings(settings);
      if (!s.secretKey)
        throw ApplicationFailure.nonRetryable('Stripe integration not configured', 'StripeNotConfigured');
      try {
        const intent = await stripeClient(s).paymentIntents.create(
          { amount: input.amountCents, currency: 'usd', metadata: { account_id: input.accountId } },
          { idempotencyKey: `payment-intent:${input.accountId}:${input.requestKey}` },
        );
        return {
          paymentIntentId: intent.id,
          amountCents: intent.amount,
          clientSecretSealed: seal(sealingKey, intent.client_secret ?? '').sealed,
        };
      } catch (err) {
        // Stripe's 4xx (card/params/auth/idempotency conflicts) will not get better on retry.
        if (err instanceof Stripe.errors.StripeError && (err.statusCode ?? 500) < 500 && err.statusCode !== 429) {
          throw ApplicationFailure.nonRetryable(err.message, 'StripeRejected');
        }
        throw err;
      }
    },
  };
}

export type StripeActivities = ReturnType<typeof createStripeActivities>;
