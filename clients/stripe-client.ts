/**
 * stripe-node wiring (spec/billing.md §7). The client's host/port/protocol come from the `stripe.api_url` setting
 * (https://api.stripe.com by default; stripe-mock in tests), the key from `stripe.secret_key`.
 *
 * Used by activities/stripe.ts (every call with an effect). The API imports it only for what changes nothing at
 * Stripe (docs/design-notes.md "Import arrows"): webhook signature checks, the key's mode and the read-only
 * status probe of api/routes/stripe.ts.
 */
import Stripe from 'stripe';
import type { SettingsReader } from '../core/settings/types';

export const STRIPE_WEBHOOK_PATH = '/api/v1/webhooks/stripe';

export interface StripeSettings {
  secretKey: string;
  webhookSecret: string;
  apiUrl: string;
}

export async function readStripeSettings(settings: SettingsReader): Promise<StripeSettings> {
  return {
    secretKey: (await settings.get('stripe.secret_key')).trim(),
    webhookSecret: (await settings.get('stripe.webhook_secret')).trim(),
    apiUrl: (await settings.get('stripe.api_url')).trim() || 'https://api.stripe.com',
  };
}

/** A client for one request (settings may change at runtime; construction is cheap). */
export function stripeClient(s: Pick<StripeSettings, 'secretKey' | 'apiUrl'>): Stripe {
  const url = new URL(s.apiUrl);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return new Stripe(s.secretKey, {
    host: url.hostname,
    port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443,
    protocol,
    maxNetworkRetries: 2,
    timeout: 30_000,
  });
}

/** `sk_test_…` → test, `sk_live_…` → live, else '' (api.md §12). */
export function stripeMode(secretKey: string): 'test' | 'live' | '' {
  if (secretKey.startsWith('sk_test_')) return 'test';
  if (secretKey.startsWith('sk_live_')) return 'live';
  return '';
}

export type WebhookCheck =
  { ok: true; event: Stripe.Event } | { ok: false; reason: 'no_secret' | 'bad_signature' | 'bad_payload' };

/**
 * Verifies `stripe-signature` over the raw body (HMAC-SHA256 with the webhook secret, 300 s tolerance) and parses
 * the event. An empty secret refuses everything: v1 accepted payloads signed with an empty HMAC key.
 */
export function verifyWebhook(rawBody: Buffer, signature: string, webhookSecret: string): WebhookCheck {
  if (webhookSecret === '') return { ok: false, reason: 'no_secret' };
  let event: unknown;
  try {
    event = Stripe.webhooks.constructEvent(rawBody, signature, webhookSecret);
  } catch (err) {
    if (err instanceof Stripe.errors.StripeSignatureVerificationError) return { ok: false, reason: 'bad_signature' };
    return { ok: false, reason: 'bad_payload' };
  }
  // Signed is not the same as well-formed: `null`, an array or an object without type/data is refused here.
  return isEventShaped(event) ? { ok: true, event } : { ok: false, reason: 'bad_payload' };
}

/** The fields this service reads: `id` and `type` strings and a `data.object` object. */
function isEventShaped(v: unknown): v is Stripe.Event {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const e = v as { id?: unknown; type?: unknown; data?: unknown };
  if (typeof e.type !== 'string' || typeof e.id !== 'string') return false;
  const data = e.data as { object?: unknown } | null | undefined;
  return typeof data === 'object' && data !== null && typeof data.object === 'object' && data.object !== null;
}
