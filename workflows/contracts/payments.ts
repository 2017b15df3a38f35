/** Contract of the PaymentIntent workflow: one execution per (account, client idempotency key). */

export interface CreatePaymentIntentInput {
  accountId: string;
  amountCents: number;
  /** Client's Idempotency-Key (or a fresh id); also Stripe's idempotency key. */
  requestKey: string;
}

export interface CreatePaymentIntentResult {
  paymentIntentId: string;
  amountCents: number;
  /** The client_secret, sealed so workflow history never shows it (core/auth/seal.ts). */
  clientSecretSealed: string;
}

export const paymentIntentWorkflowId = (accountId: string, requestKey: string) =>
  `payment-intent:${accountId}:${requestKey}`;
