import { proxyActivities } from '@temporalio/workflow';
import type { StripeActivities } from '../activities/stripe';
import type { CreatePaymentIntentInput, CreatePaymentIntentResult } from './contracts/payments';

const { stripeCreatePaymentIntent } = proxyActivities<StripeActivities>({
  startToCloseTimeout: '45 seconds',
  // The caller waits on this over HTTP: a few quick retries, then the failure is theirs to see.
  retry: { maximumAttempts: 4, initialInterval: '500 ms' },
});

/** A Stripe PaymentIntent for a deposit; the webhook credits the account when it succeeds. */
export async function createPaymentIntent(input: CreatePaymentIntentInput): Promise<CreatePaymentIntentResult> {
  return stripeCreatePaymentIntent(input);
}
